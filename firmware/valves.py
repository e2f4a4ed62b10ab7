# Pump, chamber valves and dump valve, driven from one integer command.
#
# Valve roles are chosen so that de-energised means safe: each chamber valve is a normally-open
# 2/2 valve between the manifold and its chamber (energise = close = hold), the dump valve is a
# normally-open 2/2 valve from the manifold to atmosphere (energise = close), and the pump runs
# only while energised. With every output off, every chamber is joined to the manifold and the
# manifold is open to the air: power loss, reset and a crash all vent the boot.
#
# Command bits: bit i (0..7) energises (closes) the valve of chamber i+1, DUMP_CLOSED closes the
# dump, PUMP_ON runs the pump. SAFE (0) is pump off, every path open. CONTROL_PUFF drives no
# pin: it marks the acknowledgement check's control puff (tripped.py), the one command allowed
# to run the pump with every path closed, for at most CONTROL_PUFF_MAX_WRITES commands in a row
# (3 ticks, 30 ms: the manifold alone climbs about 10 mmHg).
# A board may have more than one dump (a second, independent vent path: "dump_pins"). Every
# dump is normally open and DUMP_CLOSED closes them all; DUMP_KEEP << (k - 1), with DUMP_CLOSED,
# keeps dump k open: the dump check after a vent (dumpcheck.py) puffs through one dump at a
# time. A dump kept open is a path, so the interlock lets the pump run.
SAFE = 0
DUMP_CLOSED = 1 << 8
PUMP_ON = 1 << 9
CONTROL_PUFF = 1 << 10
CONTROL_PUFF_MAX_WRITES = 3
DUMP_KEEP = 1 << 11             # bits 11..13: dumps 1..3 (limits.DUMPS_MAX)


def closed_mask(chambers):
    """Command bits that close every chamber valve of a board with this many chambers."""
    return (1 << chambers) - 1


def keep_mask(dumps):
    """Command bits that keep each of a board's dumps open past DUMP_CLOSED."""
    return ((1 << dumps) - 1) * DUMP_KEEP


def dead_headed(cmd, chambers, dumps=1):
    """True if cmd runs the pump with every dump and every chamber valve closed."""
    m = closed_mask(chambers)
    return bool(cmd & PUMP_ON) and bool(cmd & DUMP_CLOSED) and (cmd & m) == m and \
        not cmd & keep_mask(dumps)


def dump_pins(outputs):
    """The dump valves' GPIOs of a checked board file's "outputs": "dump_pin" is the one-dump
    form."""
    return outputs["dump_pins"] if "dump_pins" in outputs else [outputs["dump_pin"]]


class Outputs:
    """Writes commands to pins. Refuses to dead-head the pump, whoever asks."""

    def __init__(self, pump_pin, dump_pin, valve_pins, active_high=True):
        self._pump = pump_pin
        # one dump pin, or a list of them (a board with a second vent path)
        self._dumps = dump_pin if isinstance(dump_pin, (list, tuple)) else [dump_pin]
        self._valves = valve_pins
        self._invert = 0 if active_high else 1
        self._all_closed = closed_mask(len(valve_pins))
        self._keep = keep_mask(len(self._dumps))
        self.cmd = -1            # last command written; -1 forces the first write
        self.interlocks = 0      # how many commands had the pump removed
        self._control_writes = 0  # control-puff commands in a row (CONTROL_PUFF)
        self.safe()

    def apply(self, cmd):
        """Drive the outputs to cmd (with the dead-head interlock). Returns what was written."""
        if cmd & CONTROL_PUFF:
            self._control_writes += 1
        else:
            self._control_writes = 0
        if cmd & PUMP_ON and cmd & DUMP_CLOSED and (cmd & self._all_closed) == self._all_closed \
                and not cmd & self._keep:
            if not cmd & CONTROL_PUFF or self._control_writes > CONTROL_PUFF_MAX_WRITES:
                cmd &= ~PUMP_ON
                self.interlocks += 1
        if cmd == self.cmd:
            return cmd
        inv = self._invert
        # Open paths before closing others and stop the pump first: no instant is less safe
        # than the command before or after it.
        if not cmd & PUMP_ON:
            self._pump.value(inv)
        valves = self._valves
        for i in range(len(valves)):
            if not cmd & (1 << i):
                valves[i].value(inv)
        dumps = self._dumps
        for k in range(len(dumps)):
            if not cmd & DUMP_CLOSED or cmd & (DUMP_KEEP << k):
                dumps[k].value(inv)
        for i in range(len(valves)):
            if cmd & (1 << i):
                valves[i].value(1 ^ inv)
        if cmd & DUMP_CLOSED:
            for k in range(len(dumps)):
                if not cmd & (DUMP_KEEP << k):
                    dumps[k].value(1 ^ inv)
        if cmd & PUMP_ON:
            self._pump.value(1 ^ inv)
        self.cmd = cmd
        return cmd

    def safe(self):
        """Pump off, every chamber valve and the dump open. Never raises on a bad command."""
        inv = self._invert
        self._pump.value(inv)
        for v in self._valves:
            v.value(inv)
        for d in self._dumps:
            d.value(inv)
        self._control_writes = 0
        self.cmd = SAFE
