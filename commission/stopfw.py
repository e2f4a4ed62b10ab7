"""Stop the firmware running on a board so its REPL stays, through the hardware watchdog.

The firmware starts a hardware watchdog that keeps running once the firmware is interrupted: one
Ctrl-C (what mpremote sends) is followed by a watchdog reset and the firmware again. So: Ctrl-C
repeatedly, through that reset, until main.py stops before it starts the watchdog and the REPL
stays put (both fit in 1.5 s on an ESP32). tools/flash.sh and boot-commission use this.

    python -m commission.stopfw PORT     exit 0: stopped, or nothing to stop (not a REPL: the
                                         caller's probe says what is wrong); 4: it keeps
                                         restarting and could not be interrupted
"""
import sys
import time

KEEPS_RESTARTING = 4


def _read_for(s, seconds):
    data, last = b"", time.monotonic()
    end = last + seconds
    while time.monotonic() < end:
        b = s.read(4096)
        if b:
            data, last = data + b, time.monotonic()
    return data, time.monotonic() - last


def _interrupt(s, seconds):
    data, end = b"", time.monotonic() + seconds
    while time.monotonic() < end:
        s.write(b"\x03")
        data += s.read(4096)
        time.sleep(0.01)
    return data


def stop(s, attempts=6):
    """s: an open pyserial port (timeout about 0.02 s). True when the REPL stayed (or nothing
    answered: not a REPL), False when the firmware kept restarting."""
    seen = b""
    for attempt in range(attempts):
        s.write(b"\r\x02")              # to the friendly REPL: it answers with its banner
        data, quiet = _read_for(s, 1.5)
        seen += data
        if not seen:
            return True                 # silent: not a REPL; the caller's probe says so
        if data.rstrip().endswith(b">>>") and quiet >= 1.2:
            return True                 # the REPL stayed: nothing runs, no watchdog is due
        seen += _interrupt(s, 1.5 if attempt == 0 else 3.0)
    return False


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        import serial
    except ImportError:
        return 0
    try:
        s = serial.Serial(argv[0], 115200, timeout=0.02)
    except Exception:       # noqa: BLE001  (mpremote says what is wrong with the port)
        return 0
    try:
        return 0 if stop(s) else KEEPS_RESTARTING
    finally:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
