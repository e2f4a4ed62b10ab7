# Manifold pressure from the transducer: calibrated ADC microvolts -> tenths of a mmHg.
#
# Integers only: on an ESP32 every float is a heap object, and the control loop must not
# allocate. All intermediate values stay below 2**29 so they are small ints on a 32-bit port.
#
# Filtering: each sample is the mean of `oversample` reads taken back to back within one control
# tick, so noise drops by sqrt(oversample) and a real rise is never hidden for longer than the
# one tick it is read in. There is no filter state carried from tick to tick.
from limits import SENSOR_MARGIN_V, MAX_ZERO_OFFSET_MMHG, ZERO_DRIFT_DMMHG, ZERO_REPEAT_DMMHG, \
    ADC_FLOOR_GUARD_V

ZERO_HALF_SAMPLES = 20       # the zero window's first half (it takes about 50 samples)

# 64 uV per step: about 0.01 mmHg on the shipped 0-300 mmHg sensor, well under one ADC step
# (about 0.8 mV), and coarse enough to leave mul 13 bits: with rounding on the shift the
# conversion stays within 0.2 mmHg of the exact transfer function over the whole ADC range.
# (8 uV steps left mul only 10 bits: up to 0.35 mmHg off on the shipped board.)
_UNIT_UV = 64                # microvolts per step before scaling
_ADC_MAX_UV = 3300000        # the ESP32 ADC cannot read above its 3.3 V supply
_PRODUCT_MAX = 1 << 29       # keep (uv / _UNIT_UV) * mul + half below this: small int on ESP32


def scale_for(uv_span, full_scale_dmmhg):
    """(mul, shift) so that dmmhg = (uv // _UNIT_UV * mul + half) >> shift, as exact as fits,
    where half = (1 << shift) >> 1 rounds to the nearest tenth."""
    gain = full_scale_dmmhg * _UNIT_UV / uv_span
    max_units = _ADC_MAX_UV // _UNIT_UV
    shift = 0
    while shift < 30 and \
            max_units * int(gain * (1 << (shift + 1)) + 0.5) + (1 << shift) < _PRODUCT_MAX:
        shift += 1
    return int(gain * (1 << shift) + 0.5), shift


class Sensor:
    def __init__(self, read_uv, v_at_zero, v_at_full_scale, full_scale_mmhg, divider_ratio,
                 oversample=4, adc_floor_v=0.0):
        self._read_uv = read_uv
        self._n = oversample
        self.uv_zero = int(v_at_zero * divider_ratio * 1e6)
        uv_span = (v_at_full_scale - v_at_zero) * divider_ratio * 1e6
        self._mul, self._shift = scale_for(uv_span, full_scale_mmhg * 10)
        self._half = (1 << self._shift) >> 1
        # A broken wire puts 0 V on the pin, which the chip's ADC reads as its floor
        # (adc_floor_v: limits.ADC_FLOOR_V, 0.142 V on a classic ESP32): the low edge stays
        # ADC_FLOOR_GUARD_V above it, however low the margin alone would reach (boardcfg
        # refuses a zero too close to the floor for the two to leave a window).
        self.uv_low = max(int((v_at_zero - SENSOR_MARGIN_V) * divider_ratio * 1e6),
                          int((adc_floor_v + ADC_FLOOR_GUARD_V) * 1e6))
        self.uv_high = int((v_at_full_scale + SENSOR_MARGIN_V) * divider_ratio * 1e6)
        self.zero_dmmhg = 0          # offset captured at session start
        self.uv = 0                  # last mean reading
        self.raw_dmmhg = 0           # last reading before the zero offset
        self.p_dmmhg = 0             # last reading, zeroed
        self.in_window = True        # last reading inside the plausibility window
        self.bad_run = 0             # consecutive readings outside the window
        self.same_run = 0            # consecutive readings identical to the one before
        self.zeroed = False          # a zero was taken since boot
        self._zero_sum = 0
        self._zero_n = 0
        self._zero_half = 0

    def to_dmmhg(self, uv):
        """Transfer function without the zero offset, in tenths of a mmHg."""
        return ((uv - self.uv_zero) // _UNIT_UV * self._mul + self._half) >> self._shift

    def read(self):
        """Take one oversampled reading; return the zeroed pressure in tenths of a mmHg."""
        total = 0
        read_uv = self._read_uv
        for _ in range(self._n):
            total += read_uv()
        uv = total // self._n
        if uv == self.uv:
            self.same_run += 1
        else:
            self.same_run = 0
        self.uv = uv
        if uv < self.uv_low or uv > self.uv_high:
            self.in_window = False
            self.bad_run += 1
        else:
            self.in_window = True
            self.bad_run = 0
        raw = self.to_dmmhg(uv)
        self.raw_dmmhg = raw
        self.p_dmmhg = raw - self.zero_dmmhg
        return self.p_dmmhg

    def zero_begin(self):
        self._zero_sum = 0
        self._zero_n = 0
        self._zero_half = 0

    def zero_add(self):
        """Add the last reading to the zero average (call with every chamber vented)."""
        self._zero_sum += self.raw_dmmhg
        self._zero_n += 1
        if self._zero_n == ZERO_HALF_SAMPLES:
            self._zero_half = self._zero_sum

    def zero_commit(self):
        """Adopt the averaged zero. Return False, keeping the old zero, if it is implausible."""
        if self._zero_n == 0:
            return False
        offset = self._zero_sum // self._zero_n
        if offset > MAX_ZERO_OFFSET_MMHG * 10 or offset < -MAX_ZERO_OFFSET_MMHG * 10:
            return False
        n = self._zero_n
        if n > ZERO_HALF_SAMPLES:
            # the two halves' means must agree: a pressure that moves is no zero (noise
            # averages out over the halves; a leak or a running pump does not)
            first = self._zero_half // ZERO_HALF_SAMPLES
            second = (self._zero_sum - self._zero_half) // (n - ZERO_HALF_SAMPLES)
            if second - first > ZERO_DRIFT_DMMHG or first - second > ZERO_DRIFT_DMMHG:
                return False
        if self.zeroed and (offset - self.zero_dmmhg > ZERO_REPEAT_DMMHG or
                             self.zero_dmmhg - offset > ZERO_REPEAT_DMMHG):
            # far from this boot's last zero: air held in the boot (a dump that did not open),
            # not the sensor; zeroing on it would make every later reading that much low
            return False
        self.zeroed = True
        self.zero_dmmhg = offset
        return True

    def zero_candidate(self):
        """The offset the current average would give, in tenths of a mmHg (for messages)."""
        return self._zero_sum // self._zero_n if self._zero_n else 0
