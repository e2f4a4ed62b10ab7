"""The serial link to the boot's maintenance mode (firmware/maintlink.py), over mpremote's own
serial transport: the firmware stopped (stopfw.py), the raw REPL entered, `maintlink.run()`
started without waiting for it to end, then one request a line and one JSON reply a line.

Every reply carries the boot's state (maintlink.py): its uptime t_ms, the reading p_dmmhg (0.1
mmHg, zeroed by this boot's zero: none before a session, so the raw ADC microvolts uv are what
calibration uses), the outputs' command bits cmd, the pump time pumped_ms, the latched fault.
Console lines that are not replies (the boot's own events) are kept in .events for the report.
"""
import json
import threading
import time
from contextlib import contextmanager

from commission import stopfw

REPLY_S = 5.0           # a reply later than this: the link is lost (the boot leaves maintenance
                        # itself after limits.MAINT_IDLE_MS without a request, and vents)
START = "import maintlink\nmaintlink.run()"
SETTLE_S = 2.0          # after leave: the vent verified and the reset (a few hundred ms on a chip)


class LinkError(Exception):
    """The board does not answer as the maintenance link does; the text says what to do."""


class MaintLink:
    def __init__(self, port):
        self.port = port
        self.transport = None
        self.events = []            # the boot's own console lines (JSON events), in order
        self._buf = b""

    def _connect(self):
        """The firmware stopped and a clean raw REPL (a soft reset in it runs boot.py, not
        main.py: nothing the stopped firmware had loaded or queued is left)."""
        try:
            import serial
            from mpremote.transport_serial import SerialTransport, TransportError
        except ImportError as e:
            raise LinkError(f"{e}: install the tools with tools/setup.sh") from None
        try:
            s = serial.Serial(self.port, 115200, timeout=0.02)
        except serial.SerialException as e:
            raise LinkError(f"cannot open {self.port}: {e}; close any other program using it "
                            "(Thonny, screen, mpremote) and check the cable") from None
        try:
            stopped = stopfw.stop(s)
        finally:
            s.close()
        if not stopped:
            raise LinkError(f"the firmware on {self.port} keeps restarting and could not be "
                            "interrupted: press the board's EN (reset) button while this runs")
        try:
            self.transport = SerialTransport(self.port, baudrate=115200)
            self.transport.enter_raw_repl(soft_reset=True)
        except TransportError as e:
            raise LinkError(f"the board on {self.port} does not answer as MicroPython's raw "
                            f"REPL does ({e}): flash the firmware first (tools/flash.sh)") from None
        return TransportError

    def open(self):
        """Stop the firmware, start maintenance. Returns the first reply (enter's). Raises
        LinkError when the board cannot be stopped or refuses maintenance."""
        transport_error = self._connect()
        try:
            self.transport.exec_raw_no_follow(START)
        except transport_error as e:
            raise LinkError(f"could not start maintenance on {self.port}: {e}") from None
        self.transport.serial.timeout = 0.05
        self._buf = b""
        first = self._reply("enter", REPLY_S * 3)   # the boot starts first: its checks, zero
        if not first.get("ok"):
            raise LinkError("the boot refused maintenance: %s" % first.get("why"))
        return first

    def put_file(self, name, data):
        """A file written to the board's flash (the firmware stopped for it, as flash.sh
        does); the board is then reset into its firmware."""
        transport_error = self._connect()
        try:
            self.transport.fs_writefile(name, data)
            self.transport.exec_raw_no_follow("import machine\nmachine.reset()")
        except transport_error as e:
            raise LinkError(f"could not write {name} to {self.port}: {e}") from None
        finally:
            self.transport.close()
            self.transport = None

    def request(self, line, timeout_s=REPLY_S):
        """Send one request (maintlink.py's: read, open K, close K, pump MS, vent, leave);
        returns its reply (a dict). Raises LinkError when none comes."""
        self.transport.serial.write(line.encode() + b"\n")
        return self._reply(line.split()[0], timeout_s)

    @contextmanager
    def kept_alive(self, every_s=0.2):
        """While a person answers (the calibration's gauge, a click): a "read" every every_s so
        the boot does not take the silence for a pulled cable (limits.MAINT_IDLE_MS: 5 s).
        Nothing else may use the link meanwhile."""
        stop = threading.Event()
        lost = []

        def beat():
            while not stop.wait(every_s):
                try:
                    self.request("read")
                except (LinkError, OSError) as e:
                    lost.append(e)
                    return
        t = threading.Thread(target=beat, daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join()
        if lost:
            raise LinkError(f"the link was lost while you answered: {lost[0]}")

    def _reply(self, verb, timeout_s):
        """The reply to verb; a reply to anything else (a late one, after a stall) is
        skipped, never taken for this one."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            line = self._line()
            if line is None:
                continue
            if not line.startswith("{"):
                if "Traceback" in line or "Error" in line:
                    self.events.append({"console": line})
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and "maint" in rec:
                if rec["maint"] == verb:
                    return rec
                continue
            self.events.append(rec)
        raise LinkError(f"no reply from the boot on {self.port} for {timeout_s:.0f} s: the "
                        "cable, or the boot reset (it vents and leaves maintenance by itself)")

    def _line(self):
        while b"\n" not in self._buf:
            chunk = self.transport.serial.read(4096)
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode("utf-8", "replace").strip()

    def close(self, leave=True):
        """Leave maintenance (every path open, pump off: the boot then resets into its
        firmware once the vent is verified) and let the port go."""
        if self.transport is None:
            return
        try:
            if leave:
                try:
                    self.request("leave", 2.0)
                    # the boot vents, verifies it and resets into its firmware: let it
                    end = time.monotonic() + SETTLE_S
                    while time.monotonic() < end:
                        self._line()
                except LinkError:
                    pass            # it leaves by itself after limits.MAINT_IDLE_MS
        finally:
            self.transport.close()
            self.transport = None
