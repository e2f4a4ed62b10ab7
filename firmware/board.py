# The one module that imports `machine`: it builds the pins, the ADC and the button from a
# checked board file. On the device this is the ESP32's machine; on a computer, the simulator's.
from time import ticks_ms, ticks_diff
import machine
import lazy
import limits as L
from valves import Outputs, dump_pins
from encoder import Encoder


class Latch:
    """A button's pin, polled each control tick, with its active edge latched by a pin interrupt.
    A rest window can stall the chip for up to half a second (a flash sector, a USB console
    write): a short press made and released inside it would never be read. So when a poll
    finds that the first active edge since the poll before came more than BUTTON_STALL_MS ago
    (the polls were held up), and the button last read released, it reads as pressed for this
    and the next polls, BUTTON_LATCH_READS in all, long enough for the debounce (button.py) to
    take it as a press (a long press, still held, reads on as the pin does). Polls on time see
    the pin as they always did (the latch does not arm), and edges while the button last read
    pressed (its bouncing release) arm nothing, so a bouncing contact still makes one press.
    The interrupt (soft on the ESP32 port: it runs once the stall ends) keeps a count and a
    time, small ints: no allocation."""

    def __init__(self, pin, level):
        self.pin = pin
        self.level = level
        self.edges = 0          # active edges, counted by the interrupt (wraps at 16 bits) ...
        self.first_ms = ticks_ms()  # ... the first since the last poll came then
        self._seen = 0          # the count as of the last poll
        self._left = 0          # polls still to read as pressed
        self._was = False       # the last poll read pressed
        pin.irq(handler=self._edge,
                trigger=machine.Pin.IRQ_RISING if level else machine.Pin.IRQ_FALLING)

    def _edge(self, _pin):
        if self.edges == self._seen:
            self.first_ms = ticks_ms()
        self.edges = (self.edges + 1) & 0xFFFF

    def pressed(self):
        first = self.first_ms
        n = self.edges
        if n != self._seen:
            self._seen = n
            if not self._was and ticks_diff(ticks_ms(), first) > L.BUTTON_STALL_MS:
                self._left = L.BUTTON_LATCH_READS
        now = self.pin.value() == self.level
        if self._left > 0:
            self._left -= 1
            now = True
        self._was = now
        return now


class Hardware:
    def __init__(self, cfg):
        Pin = machine.Pin
        out = cfg["outputs"]
        off = 0 if out["active_high"] else 1
        # value= sets the level before the driver is enabled: no glitch on the way to safe.
        pump = Pin(out["pump_pin"], Pin.OUT, value=off)
        dumps = [Pin(n, Pin.OUT, value=off) for n in dump_pins(out)]
        valves = [Pin(n, Pin.OUT, value=off) for n in out["valve_pins"]]
        self.outputs = Outputs(pump, dumps, valves, out["active_high"])
        self.rtc = machine.RTC()     # its memory keeps notes across a watchdog reset (rtcnote)
        self.adc = machine.ADC(Pin(cfg["sensor"]["adc_pin"]))
        self.adc.atten(machine.ADC.ATTN_11DB)     # 0-3.1 V range
        self.read_uv = self.adc.read_uv           # calibrated microvolts
        inp = cfg["inputs"]
        low = inp["button_active_low"]
        self._button = Pin(inp["button_pin"], Pin.IN, Pin.PULL_UP if low else Pin.PULL_DOWN)
        self._pressed_level = 0 if low else 1
        # polled each control tick; an edge that came during a stall is latched (Latch below)
        self._button_latch = Latch(self._button, self._pressed_level)
        # the knob: a quadrature encoder on two interrupt pins (the KY-040 has its own
        # pull-ups; the internal ones help on pins that have them)
        self.encoder = None
        if inp.get("encoder_a_pin") is not None:
            a = Pin(inp["encoder_a_pin"], Pin.IN, Pin.PULL_UP)
            b = Pin(inp["encoder_b_pin"], Pin.IN, Pin.PULL_UP)
            self.encoder = Encoder(a, b, Pin.IRQ_RISING | Pin.IRQ_FALLING)
        self._stop = None
        if inp.get("stop_pin") is not None:
            stop_low = inp.get("stop_active_low", True)
            self._stop = Pin(inp["stop_pin"], Pin.IN, Pin.PULL_UP if stop_low else Pin.PULL_DOWN)
            self._stop_level = 0 if stop_low else 1
            self._stop_latch = Latch(self._stop, self._stop_level)
        ind = cfg.get("indicators", {})
        self._led = self._optional_out(ind.get("led_pin"))
        self._buzzer = self._optional_out(ind.get("buzzer_pin"))
        self._wdt = None
        self.display = None
        self.display_note = None
        dsp = cfg.get("display")
        if dsp:
            try:
                from display import Display     # needs framebuf (every MicroPython port has it)
            except ImportError as e:
                self.display_note = "display not driven: %s" % e
            else:
                i2c = machine.I2C(0, scl=Pin(dsp["scl_pin"]), sda=Pin(dsp["sda_pin"]),
                                  freq=400000)
                self.display = Display(i2c, dsp["address"])

    @staticmethod
    def _optional_out(pin):
        return machine.Pin(pin, machine.Pin.OUT, value=0) if pin is not None else None

    def button_pressed(self):
        return self._button_latch.pressed()

    def stop_pressed(self):
        """The separate stop button, if fitted."""
        return self._stop is not None and self._stop_latch.pressed()

    def knob_detents(self):
        """Detents turned since the last call (signed); 0 without a knob."""
        return self.encoder.take() if self.encoder is not None else 0

    def set_led(self, level):
        if self._led is not None:
            self._led.value(level)

    def set_buzzer(self, level):
        if self._buzzer is not None:
            self._buzzer.value(level)

    def start_watchdog(self, timeout_ms):
        """Once started the hardware watchdog cannot be stopped: feed it or the chip resets."""
        self._wdt = machine.WDT(timeout=timeout_ms)

    def watchdog_timeout(self, timeout_ms):
        """A started watchdog given a new timeout, counting afresh from now: on the ESP32
        MicroPython's machine.WDT(timeout=) reconfigures the one task watchdog
        (ports/esp32/machine_wdt.c: esp_task_wdt_reconfigure). Only App.rest_window calls it."""
        if self._wdt is not None:
            self._wdt = machine.WDT(timeout=timeout_ms)

    def feed_watchdog(self):
        if self._wdt is not None:
            self._wdt.feed()

    @staticmethod
    def reset():
        """Restart the chip now (maintenance mode over: maintlink.py). Never returns."""
        machine.reset()

    @staticmethod
    def reset_by_watchdog():
        return machine.reset_cause() == machine.WDT_RESET


def boot(board_path="board.json"):
    """Load the board file and drive every output safe. On a bad file no pin is touched: the
    hardware's pull-downs hold every output off, and the error names the file and field.
    The checker (boardcfg.py) is forgotten after (lazy.py)."""
    import boardcfg
    try:
        cfg = boardcfg.load(board_path)
    finally:
        del boardcfg
        lazy.drop(("boardcfg",))
    return cfg, Hardware(cfg)


def wlan():
    """The Wi-Fi station interface (board.py is also the only module that imports `network`).
    Only called when secrets.json sets up the network."""
    import network
    return network.WLAN(network.STA_IF)
