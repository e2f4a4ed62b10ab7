# Opt-in simulator options, read from the run config by sim/device/run.py. None is on by default;
# a run without these keys behaves exactly as before.
#   "pace": S        keep simulated time at most S times real time (1 = real time). For runs that
#                    talk to real programs (an MQTT broker, a person): their time is real.
#   "tick_gap": true report the longest gap between two control ticks (two sensor reads at
#                    different instants) as "@sim tick_gap" lines, each time it grows; a gap in
#                    which the firmware made the chip wait (a flash write, a console write:
#                    flashmodel.py) with every output released throughout (a rest window,
#                    firmware/app.py) is reported apart, as "@sim tick_gap_rest".
#   "network": {...} the simulated Wi-Fi and name lookups (network.py, mpshim/socket.py):
#       "ssid", "password"   the access point (default: any network name and password join)
#       "join_ms"            how long a join takes (default 800)
#       "dns": {"name": {"addr": "127.0.0.1", "delay_ms": 0}}  names the lookup knows; a lookup
#                            blocks delay_ms of simulated time (a slow or dead DNS server)
#       "drops": [{"t_s": 30, "for_s": 5}]   Wi-Fi outages
# Runs in both runtimes.
import sys

MICROPYTHON = sys.implementation.name == "micropython"
NET = {}


def real_clock():
    """(elapsed_ms(), sleep_ms(ms)) on the computer's own clock, whatever the firmware sees."""
    if MICROPYTHON:
        import utime
        t0 = utime.ticks_us()

        def elapsed_us():
            return utime.ticks_diff(utime.ticks_us(), t0)
        return elapsed_us, utime.sleep_us
    import time
    t1 = time.monotonic()

    def elapsed_us_c():
        return int((time.monotonic() - t1) * 1e6)

    def sleep_us(us):
        time.sleep(us / 1e6)
    return elapsed_us_c, sleep_us


def install(vboard, config, emit):
    NET.clear()
    NET.update(config.get("network") or {})
    if config.get("pace"):
        _pace(vboard, float(config["pace"]))
    if config.get("tick_gap"):
        _gap_meter(vboard, emit)


def _pace(vb, speed):
    """Wrap the board's advance: simulated time may not run ahead of real time x speed."""
    advance = vb.advance
    elapsed_us, sleep_us = real_clock()
    ms0 = vb.ms

    def paced(ms):
        ahead_us = int((vb.ms + ms - ms0 - vb.shelf_ms) * 1000 / speed) - elapsed_us()
        if ahead_us > 500:
            sleep_us(ahead_us)
        advance(ms)
    vb.advance = paced


def _gap_meter(vb, emit):
    """Wrap the board's ADC read: the control task reads the sensor once a tick."""
    read_uv = vb.read_uv
    power_up = vb.power_up
    # last read (ms), reads since boot, longest gap, longest rest-window gap, the chip's flash
    # and console waits (ms) at the last read
    st = [-1, 0, 0, 0, 0]
    io = vb.chipio
    p = vb.plant

    def metered(pin):
        ms = vb.ms - vb.shelf_ms        # (the idle action's shelf time is no gap)
        if ms != st[0]:
            waited = io.flash_ms + io.console_ms
            # a rest window: the firmware made the chip wait (flash, console) with every output
            # released throughout (the outputs cannot change while it waits): reported apart
            rest = waited != st[4] and not p.pump_cmd and not any(p.valve_cmd) and \
                not any(p.dump_cmds)
            k = 3 if rest else 2
            if st[1] >= 2 and ms - st[0] > st[k]:
                st[k] = ms - st[0]
                emit('@sim {"sim": "%s", "t_ms": %d, "gap_ms": %d}'
                     % ("tick_gap_rest" if rest else "tick_gap", ms, st[k]))
            st[0] = ms
            st[1] += 1
            st[4] = waited
        return read_uv(pin)

    def rebooted():
        st[0] = -1
        st[1] = 0
        power_up()
    vb.read_uv = metered
    vb.power_up = rebooted


def wifi_up(ms):
    """False during a configured Wi-Fi outage."""
    for d in NET.get("drops", ()):
        if d["t_s"] * 1000 <= ms < (d["t_s"] + d["for_s"]) * 1000:
            return False
    return True
