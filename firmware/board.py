# The one module that imports `machine`: it builds the pins, the ADC and the button from a
# checked board file. On the device this is the ESP32's machine; on a computer, the simulator's.
import machine
import boardcfg
from valves import Outputs


class Hardware:
    def __init__(self, cfg):
        Pin = machine.Pin
        out = cfg["outputs"]
        off = 0 if out["active_high"] else 1
        # value= sets the level before the driver is enabled: no glitch on the way to safe.
        pump = Pin(out["pump_pin"], Pin.OUT, value=off)
        dump = Pin(out["dump_pin"], Pin.OUT, value=off)
        valves = [Pin(n, Pin.OUT, value=off) for n in out["valve_pins"]]
        self.outputs = Outputs(pump, dump, valves, out["active_high"])
        self.adc = machine.ADC(Pin(cfg["sensor"]["adc_pin"]))
        self.adc.atten(machine.ADC.ATTN_11DB)     # 0-3.1 V range
        self.read_uv = self.adc.read_uv           # calibrated microvolts
        inp = cfg["inputs"]
        low = inp["button_active_low"]
        self._button = Pin(inp["button_pin"], Pin.IN, Pin.PULL_UP if low else Pin.PULL_DOWN)
        self._pressed_level = 0 if low else 1

    def button_pressed(self):
        return self._button.value() == self._pressed_level


def boot(board_path="board.json"):
    """Load the board file and drive every output safe. On a bad file no pin is touched: the
    hardware's pull-downs hold every output off, and the error names the file and field."""
    cfg = boardcfg.load(board_path)
    return cfg, Hardware(cfg)
