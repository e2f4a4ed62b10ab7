# The console (USB serial), fed from a bounded buffer by the service task: an event never
# writes to the console from where it happens (the control tick), it queues a line here.
#
# Why: a console write blocks. The classic ESP32's REPL is a UART behind a USB-serial bridge at
# 115200 baud (87 us a byte): past its 128-byte FIFO a write waits for the line to drain, in
# 10 ms steps. The S3's native USB-CDC is fast while the host reads, but when a host holds the
# port open without reading, every write waits MicroPython's MICROPY_HW_USB_CDC_TX_TIMEOUT_MS
# (500 ms, ports/esp32/usb.h) and the text is lost; nothing tells the firmware beforehand.
# So (limits.CONSOLE_*):
#   - UART: at most CONSOLE_RUN_BYTES (the 128-byte FIFO) written per service run, a long line
#     over several runs: the FIFO drains in 11 ms, runs are 100 ms apart, so a write never
#     waits (1.28 KB/s: a status line a second and the events' bursts, buffered);
#   - USB: written only in a rest window (App.rest_window: every output released), where a
#     500 ms wait harms nothing, at most CONSOLE_REST_BYTES and for at most CONSOLE_REST_MS a
#     window (a host that reads, but slowly, cannot hold a window past REST_WDT_MS); a write
#     that took CONSOLE_SLOW_MS or more means the host is not reading: the rest of that line
#     is lost and nothing more is written until a retry CONSOLE_RETRY_RUNS service runs later
#     (again in a rest window).
# Lines that find the buffer full are dropped and counted; the next line written is
# {"event": "console", "dropped": N} (N lines dropped). The status line is not queued: the
# newest one waits in a slot of its own and goes out when the buffer is empty.
from time import ticks_ms, ticks_diff
import limits as L

UART = 0
USB = 1


def out(text):
    """The device's console (the REPL's stdout): text as it is, newlines included."""
    import sys
    sys.stdout.write(text)


class Console:
    def __init__(self, write=None, kind=UART):
        self.write = write          # writes text as it is; None: out() (the REPL's stdout)
        self.kind = kind
        self.lines = []             # the buffer: at most CONSOLE_LINES
        self.status = None          # the newest status line, not yet written
        self.dropped = 0            # lines lost since the last report
        self.dropped_total = 0
        self.stuck = False          # USB: the last write waited: the host is not reading
        self._retry_runs = 0        # ... and drain() calls to wait before trying again (a
                                    # count, not a timestamp: nothing ages across the wrap)
        self._cur = ""              # the line being written, its newline included ...
        self._pos = 0               # ... written up to here
        self._reported = 0          # the dropped count the line being written reports

    def put(self, line):
        """Queue a line (no I/O). A full buffer drops it, counted."""
        if len(self.lines) >= L.CONSOLE_LINES:
            self.dropped += 1
            self.dropped_total += 1
        else:
            self.lines.append(line)

    def put_status(self, line):
        self.status = line

    def busy(self):
        """A line waits or is half written (the status line aside)."""
        return self._pos < len(self._cur) or bool(self.lines)

    def pending(self):
        return self._pos < len(self._cur) or bool(self.lines) or self.status is not None \
            or self.dropped > self._reported

    def drain(self, t_ms, at_rest):
        """Write what the console may write now (the service task; t_ms: the uptime for the
        dropped-lines report). at_rest: inside a rest window (every output released)."""
        budget = L.CONSOLE_RUN_BYTES
        start_ms = ticks_ms()
        if self.kind == USB:
            if self._retry_runs > 0:
                self._retry_runs -= 1
            if not at_rest or self._retry_runs > 0:
                return
            budget = L.CONSOLE_REST_BYTES
        while budget > 0:
            if self._pos >= len(self._cur):
                if self._reported:      # the report went out whole
                    self.dropped -= self._reported
                    self._reported = 0
                # the next line made whole (its newline too) before anything is taken off or
                # counted: a MemoryError here (App.service) loses and miscounts nothing
                if self.dropped:        # the count first, so the host knows what it missed
                    self._cur = '{"event": "console", "dropped": %d, "t_ms": %d}\n' % (
                        self.dropped, t_ms)
                    self._reported = self.dropped
                elif self.lines:
                    self._cur = self.lines[0] + "\n"
                    self.lines.pop(0)
                elif self.status is not None:
                    self._cur = self.status + "\n"
                    self.status = None
                else:
                    return
                self._pos = 0
            chunk = self._cur[self._pos:self._pos + budget]
            t0 = ticks_ms()
            if self.write is None:
                out(chunk)
            else:
                self.write(chunk)
            self._pos += len(chunk)
            budget -= len(chunk)
            if self.kind == USB and ticks_diff(ticks_ms(), t0) >= L.CONSOLE_SLOW_MS:
                # the host did not take it: the line is lost (a report is not: its count stays
                # and goes out again)
                if not self._reported:
                    self.dropped += 1
                    self.dropped_total += 1
                self._reported = 0
                self._pos = len(self._cur)
                self._retry_runs = L.CONSOLE_RETRY_RUNS
                self.stuck = True
                return
            self.stuck = False
            if self.kind == USB and ticks_diff(ticks_ms(), start_ms) >= L.CONSOLE_REST_MS:
                return      # the window's time is up: the rest waits for the next one
