# Simulated `machine` for the host: the parts of the ESP32 port's API the firmware uses, wired to
# the virtual board (sim/device/vboard.py). Runs under CPython and the MicroPython unix port.
# Signatures follow the ESP32 port so code that runs here runs there.
import simctx

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        if not isinstance(id, int) or id < 0 or id > 48:
            raise ValueError("invalid pin")
        self.id = id
        self.mode = None
        self.init(mode, pull, value=value)

    def init(self, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        if value is not None:
            simctx.board.pin_write(self.id, 1 if value else 0)
        if mode != -1:
            self.mode = mode
        if pull != -1:
            self.pull = pull

    def value(self, v=None):
        if v is None:
            return simctx.board.pin_read(self.id)
        simctx.board.pin_write(self.id, 1 if v else 0)

    def __call__(self, v=None):
        return self.value(v)

    def irq(self, handler=None, trigger=3, hard=False):
        """Edges on an input wired to the virtual board call handler(pin) when they happen."""
        simctx.board.pin_irq(self.id, self, handler, trigger)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_9BIT = 0
    WIDTH_10BIT = 1
    WIDTH_11BIT = 2
    WIDTH_12BIT = 3

    def __init__(self, pin, *, atten=None):
        self._pin = pin.id if isinstance(pin, Pin) else pin
        self._atten = 3 if atten is None else atten

    def atten(self, atten):
        self._atten = atten

    def width(self, width):
        pass

    def read_uv(self):
        return simctx.board.read_uv(self._pin)

    def read_u16(self):
        return min(65535, self.read_uv() * 65535 // 3100000)

    def read(self):
        return min(4095, self.read_uv() * 4095 // 3100000)


class I2C:
    """I2C bus 0 of the virtual board: an SSD1306 display answers at the board file's address."""

    def __init__(self, id=0, *, scl=None, sda=None, freq=400000, timeout=50000):
        self.id = id

    def writeto(self, addr, buf, stop=True):
        # the firmware's buffer as it is: the chip's driver copies nothing into the heap
        return simctx.board.i2c_write(addr, buf)

    def scan(self):
        return simctx.board.i2c_scan()


class WDT:
    """Once started it cannot be stopped; not fed within timeout ms, the board resets."""

    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        simctx.board.wdt_start(timeout)

    def feed(self):
        simctx.board.wdt_feed()


class RTC:
    """The RTC's user memory (the ESP32 port: 2048 bytes, kept across a watchdog or soft reset,
    lost at power-up; the virtual board treats a brown-out as a power-up)."""

    def memory(self, data=None):
        if data is None:
            return simctx.board.rtc_memory
        if len(data) > 2048:
            raise ValueError("buffer too long")
        simctx.board.rtc_memory = bytes(data)


def reset_cause():
    return simctx.board.reset_cause


def reset():
    simctx.board.reset(HARD_RESET)


def unique_id():
    return b"\x24\x0a\xc4\x00\x00\x01"


def freq(hz=None):
    return 240000000


def idle():
    simctx.board.advance(1)
