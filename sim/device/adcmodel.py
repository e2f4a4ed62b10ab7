# The chip's ADC as MicroPython's `ADC.read_uv()` reports it: ADC1 at 11 dB (12 dB on the S3)
# attenuation, through the chip's eFuse calibration. Pin volts in, calibrated microvolts out,
# per chip (the board file's "mcu"). Runs under CPython and MicroPython (no numpy, floats only).
# docs/PLANT.md ("The chip's ADC") gives the sources of every figure here.
#
# Three regions:
#   floor  the classic ESP32's line-fitting calibration maps raw 0 to its offset, 142 mV for
#          ADC1 at 11 dB (ESP-IDF esp_adc_cal_esp32.c, adc1_vref_atten_offset[3]; public
#          reports 107-142 mV): a pin at 0 V, or anywhere below the floor, reads the floor.
#          The S3's curve fitting reads 0 near 0 V (its results are clamped at 0).
#   line   above the floor and below the knee the calibrated reading follows the pin.
#   knee   above it the reading flattens (the SAR's compression that the calibration does not
#          fully undo) toward the top, which it never exceeds: ESP32 150-2450 mV is the
#          accurate range (ESP-IDF adc.h), S3 0-2900 mV (datasheet, esp-iot-solution).
import math

# mcu: (floor_v, knee_v, top_v)
CHIPS = {
    "esp32": (0.142, 2.45, 3.1),
    "esp32s3": (0.0, 2.9, 3.1),
}


class Adc:
    def __init__(self, mcu="esp32", floor_v=None):
        if mcu not in CHIPS:
            raise ValueError("no ADC model for mcu %r (known: %s)" % (mcu, ", ".join(sorted(CHIPS))))
        floor, knee, top = CHIPS[mcu]
        self.mcu = mcu
        self.floor_v = floor if floor_v is None else float(floor_v)
        self.knee_v = knee
        self.top_v = top
        self._span_v = top - knee

    def reading_v(self, v):
        """The calibrated reading, in volts, of a pin at v volts (noise-free, unquantised)."""
        if v <= self.floor_v:
            return self.floor_v
        if v <= self.knee_v:
            return v
        # flattens from the knee with slope 1 toward top_v, never reaching it
        span = self._span_v
        return self.knee_v + span * (1.0 - math.exp(-(v - self.knee_v) / span))

    def read_uv(self, v):
        """One `read_uv()` of a pin at v volts: whole millivolts, in microvolts, as
        MicroPython returns it (esp_adc_cal_raw_to_voltage gives mV)."""
        return int(self.reading_v(v) * 1000.0 + 0.5) * 1000
