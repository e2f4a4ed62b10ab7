# The chip's flash and console, as slow as on the board (docs/PLANT.md, "Flash and console").
# Runs in both runtimes. The virtual board owns one ChipIO (board.chipio); install_flash() and
# install_console() route the firmware's flashfs.py and console.py through it.
#
# Flash: erasing and writing a 4 KB sector takes flash_sector_ms (the scenario's chip section;
# default FLASH_SECTOR_MS) and stalls the whole chip: the ESP-IDF flash driver disables the
# caches and parks the other core for the whole operation, so no code outside IRAM runs, the
# firmware's single MicroPython thread included. Modelled as board.advance(ms) before the host
# file changes: simulated time passes (the plant moves, the watchdog counts) and nothing of the
# firmware runs; a reset meanwhile leaves the file as it was (LittleFS is power-safe).
# What a call costs (LittleFS copies on write, a block a sector):
#   write(path, text)   one sector per 4 KB of text, at least one
#   append(path, text)  the sectors the text touches from the file's last block on (the partial
#                       last block is copied into a fresh one), at least one
#   rename, remove, touch  one sector (a metadata commit; LittleFS compacts its metadata block,
#                       an erase, only now and then: charged every time, harsher than the chip)
#   reads               not charged (tens of us a KB)
# Console: every write the firmware makes (console.out) takes the chip's time:
#   "uart"   the classic ESP32's UART0 to a USB-serial bridge at 115200 baud: 10 bits a byte,
#            86.8 us; 128 bytes fit the FIFO at once; past that the write waits for the line to
#            drain, in 10 ms steps (the RTOS tick). The host cannot hold it up.
#   "usb"    the S3's native USB-CDC with a host reading: about 1 MB/s, no wait worth counting
#   "usb_blocked"  a host holds the port open and does not read: the TX buffer (256 bytes) fills,
#            then every write waits MICROPY_HW_USB_CDC_TX_TIMEOUT_MS (500 ms, MicroPython
#            ports/esp32/usb.h) and its text is lost. The "console_blocked" fault makes a "usb"
#            console this for a while.
import os

FLASH_SECTOR_MS = 45        # typical 4 KB sector erase (W25Q32JV datasheet tSE: 45 typ, 400 max)
SECTOR_BYTES = 4096
UART_US_PER_BYTE = 86.8     # 115200 baud, 8N1
UART_FIFO_BYTES = 128
UART_STEP_MS = 10
USB_TX_BUF_BYTES = 256
USB_TIMEOUT_MS = 500
DEFAULT_CONSOLE = {"esp32": "uart", "esp32s3": "usb"}


class ChipIO:
    def __init__(self, board, chip, mcu):
        self.board = board
        ms = chip.get("flash_sector_ms")
        self.sector_ms = FLASH_SECTOR_MS if ms is None else ms
        self.console = chip.get("console") or DEFAULT_CONSOLE.get(mcu, "uart")
        self.blocked = False        # the console_blocked fault (a "usb" console only)
        self.live = True            # charged only while the firmware runs on this board (the
                                    # harness: inside Boot.run; a tool's own write is free)
        self.flash_calls = 0
        self.sectors = 0
        self.flash_ms = 0
        self.longest_flash_ms = 0
        self.lines = 0              # console lines written ...
        self.lines_lost = 0         # ... of which the host never got these
        self.console_ms = 0         # time the console writes waited
        self._uart_empty_ms = 0.0   # when the UART's FIFO runs empty
        self._usb_queued = 0        # bytes in a blocked USB console's TX buffer

    # --- flash -------------------------------------------------------------------------------
    def _stall(self, sectors):
        if not self.live:
            return
        ms = sectors * self.sector_ms
        self.flash_calls += 1
        self.sectors += sectors
        self.flash_ms += ms
        if ms > self.longest_flash_ms:
            self.longest_flash_ms = ms
        if ms:
            self.board.advance(ms)

    def write(self, path, text):
        n = len(text) if isinstance(text, str) else sum([len(t) for t in text])
        self._stall(max(1, -(-n // SECTOR_BYTES)))

    def append(self, path, text):
        try:
            size = os.stat(path)[6]
        except OSError:
            size = 0
        self._stall(max(1, -(-(size % SECTOR_BYTES + len(text)) // SECTOR_BYTES)))

    def metadata(self):
        self._stall(1)

    # --- console -----------------------------------------------------------------------------
    def console_text(self, text):
        """The firmware writes text to the console: wait as the chip would. True if the host
        got it."""
        n = len(text)
        self.lines += text.count("\n")
        kind = self.console
        if kind == "usb" and self.blocked:
            kind = "usb_blocked"
        if kind == "uart":
            now = self.board.ms
            queued = max(0.0, (self._uart_empty_ms - now) * 1000 / UART_US_PER_BYTE)
            total = queued + n
            self._uart_empty_ms = now + total * UART_US_PER_BYTE / 1000
            over = total - UART_FIFO_BYTES
            if over > 0:
                wait = -(-int(over * UART_US_PER_BYTE / 1000 + 0.999) // UART_STEP_MS) \
                    * UART_STEP_MS
                self.console_ms += wait
                self.board.advance(wait)
            return True
        if kind == "usb_blocked":
            if self._usb_queued + n <= USB_TX_BUF_BYTES:
                self._usb_queued += n
                return False            # in the buffer: the host never reads it
            self.console_ms += USB_TIMEOUT_MS
            self.lines_lost += 1
            self.board.advance(USB_TIMEOUT_MS)
            return False
        self._usb_queued = 0            # the host reads again: its buffer empties
        return True

    def report(self):
        return {"flash_sector_ms": self.sector_ms, "console": self.console,
                "flash_calls": self.flash_calls, "sectors": self.sectors,
                "flash_ms": self.flash_ms, "longest_flash_ms": self.longest_flash_ms,
                "console_lines": self.lines, "console_lines_lost": self.lines_lost,
                "console_wait_ms": self.console_ms}


class _Free:
    """No board in this process now (a unit test calling the firmware directly): no charge."""

    def write(self, path, text):
        pass

    def append(self, path, text):
        pass

    def metadata(self):
        pass


_FREE = _Free()


def _chipio():
    import simctx
    return simctx.board.chipio if simctx.board is not None else _FREE


def install_flash():
    """Route the firmware's flashfs.py through the current board's ChipIO (once per process;
    the patch asks simctx.board, whichever board that is)."""
    import flashfs
    if getattr(flashfs, "_sim_patched", False):
        return
    write, append, rename, remove = flashfs.write, flashfs.append, flashfs.rename, \
        flashfs.remove

    def w(path, text):
        _chipio().write(path, text)
        write(path, text)

    def a(path, text):
        _chipio().append(path, text)
        append(path, text)

    def r(src, dst):
        _chipio().metadata()
        rename(src, dst)

    def rm(path):
        _chipio().metadata()
        return remove(path)
    flashfs.write = w
    flashfs.append = a
    flashfs.rename = r
    flashfs.remove = rm
    flashfs._sim_patched = True


def install_console(emit):
    """The simulated device (run.py): every line the firmware queues is also emitted at once, as
    a probe on the chip would see it (the trace's events, at their instant); what reaches the
    host's terminal, when and whether, is the console's: emitted as "@con <line>"."""
    import console
    if getattr(console, "_sim_patched", False):
        return
    put = console.Console.put
    put_status = console.Console.put_status

    def probe_put(self, line):
        emit(line)
        put(self, line)

    def probe_status(self, line):
        emit(line)
        put_status(self, line)

    part = [""]

    def out(text):
        if _chipio().console_text(text):
            lines = (part[0] + text).split("\n")
            part[0] = lines.pop()
            for line in lines:
                emit("@con " + line)
        else:
            part[0] = ""
    console.Console.put = probe_put
    console.Console.put_status = probe_status
    console.out = out
    console._sim_patched = True
