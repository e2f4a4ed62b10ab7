"""Pressure conversion (firmware/pressure.py): integer-only ADC microvolts -> tenths of a mmHg,
small-int budget, accuracy against the exact transfer function, plausibility window, zero."""
import pytest
from hypothesis import given, strategies as st

from dual import DET, both
from limits import MAX_ZERO_OFFSET_MMHG, SENSOR_MARGIN_V, ADC_FLOOR_V, ADC_FLOOR_GUARD_V, \
    ADC_ZERO_ABOVE_FLOOR_V
from pressure import Sensor

ADC_MAX_UV = 3_300_000
SMALL_INT = 1 << 29          # ESP32 small ints are 31-bit signed; the module promises 2**29

# (v_at_zero, v_at_full_scale, full_scale_mmhg, divider_ratio): plausible transducers
CONFIGS = [
    (0.5, 4.5, 300, 0.5),        # the shipped board: 0-40 kPa, 0.5-4.5 V, 1:2 divider
    (0.5, 4.5, 750, 0.5),        # 0-100 kPa, 0.5-4.5 V
    (0.2, 4.7, 375, 0.6),        # MPX5050-like (0-50 kPa, 0.2-4.7 V)
    (0.2, 4.7, 750, 0.6),        # MPX5100-like
    (0.33, 2.97, 300, 0.9),      # 3.3 V ratiometric 10-90 %, small divider
    (0.5, 2.5, 150, 1.0),        # 0.5-2.5 V, no divider
    (0.25, 5.0, 100, 0.5),       # 100 mmHg full scale, stretched span
]


def exact(cfg, uv):
    v0, vfs, fs, r = cfg
    return (uv / 1e6 / r - v0) / (vfs - v0) * fs * 10


class Tracked(int):
    """An int that records the largest magnitude of every value computed from it."""
    peak = 0

    def _wrap(self, v):
        Tracked.peak = max(Tracked.peak, abs(v))
        return Tracked(v)

    def __add__(self, o): return self._wrap(int(self) + int(o))
    def __radd__(self, o): return self._wrap(int(o) + int(self))
    def __sub__(self, o): return self._wrap(int(self) - int(o))
    def __rsub__(self, o): return self._wrap(int(o) - int(self))
    def __mul__(self, o): return self._wrap(int(self) * int(o))
    def __rmul__(self, o): return self._wrap(int(o) * int(self))
    def __floordiv__(self, o): return self._wrap(int(self) // int(o))
    def __rshift__(self, o): return self._wrap(int(self) >> int(o))


def const(uv):
    return lambda: uv


# plausible sensors drawn at random: 0 mmHg at 0.2-0.5 V, full scale at 2.5-5 V, a divider that
# puts full scale at 2.0-2.9 V on the ADC, 100-750 mmHg
PLAUSIBLE = st.builds(
    lambda v0, vfs, adc_fs, fs: (v0, vfs, fs, min(1.0, adc_fs / vfs)),
    st.floats(0.2, 0.5), st.floats(2.5, 5.0), st.floats(2.0, 2.9), st.integers(100, 750))
CONFIG = st.one_of(st.sampled_from(CONFIGS), PLAUSIBLE)


@DET
@given(cfg=CONFIG, uvs=st.lists(st.integers(0, ADC_MAX_UV), min_size=1, max_size=20))
def test_every_intermediate_is_a_small_int(cfg, uvs):
    uvs = uvs + [0, ADC_MAX_UV]
    s = Sensor(const(0), *cfg)
    for uv in uvs:
        Tracked.peak = 0
        s.to_dmmhg(Tracked(uv))
        assert Tracked.peak < SMALL_INT, (cfg, uv, Tracked.peak)
    # read(): the oversample sum and the conversion of the mean
    for uv in (0, ADC_MAX_UV):
        Tracked.peak = 0
        Sensor(const(Tracked(uv)), *cfg).read()
        assert Tracked.peak < SMALL_INT


@DET
@given(cfg=CONFIG, uvs=st.lists(st.integers(0, ADC_MAX_UV), min_size=1, max_size=20))
def test_conversion_within_0_2_mmhg_of_the_exact_transfer_function(cfg, uvs):
    s = Sensor(const(0), *cfg)
    for uv in uvs + [0, s.uv_zero, s.uv_low, s.uv_high, ADC_MAX_UV]:
        assert abs(s.to_dmmhg(uv) - exact(cfg, uv)) < 2, (cfg, uv, s.to_dmmhg(uv))


@pytest.mark.parametrize("cfg", CONFIGS)
def test_conversion_scan_whole_adc_range(cfg):
    s = Sensor(const(0), *cfg)
    prev = None
    worst = 0
    for uv in range(0, ADC_MAX_UV + 1, 997):
        got = s.to_dmmhg(uv)
        worst = max(worst, abs(got - exact(cfg, uv)))
        assert prev is None or got >= prev
        prev = got
    assert worst < 2, worst
    assert abs(s.to_dmmhg(s.uv_zero)) <= 1                            # 0 mmHg at v_at_zero


@DET
@given(cfg=CONFIG, a=st.integers(0, ADC_MAX_UV), b=st.integers(0, ADC_MAX_UV))
def test_monotonic(cfg, a, b):
    s = Sensor(const(0), *cfg)
    a, b = min(a, b), max(a, b)
    assert s.to_dmmhg(a) <= s.to_dmmhg(b)
    assert s.to_dmmhg(a) <= s.to_dmmhg(a + 1) <= s.to_dmmhg(a) + 1   # no jumps either


@pytest.mark.parametrize("floor_v", [0.0, ADC_FLOOR_V["esp32"], ADC_FLOOR_V["esp32s3"]])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_window_catches_open_wire_and_short(cfg, floor_v):
    v0, vfs, _fs, r = cfg
    s = Sensor(const(0), *cfg, adc_floor_v=floor_v)
    # the margin, but never closer to the chip's ADC floor than the guard (an open wire reads
    # the floor: 0.142 V on a classic ESP32)
    assert s.uv_low == pytest.approx(max((v0 - SENSOR_MARGIN_V) * r,
                                         floor_v + ADC_FLOOR_GUARD_V) * 1e6, abs=1)
    assert s.uv_high == pytest.approx((vfs + SENSOR_MARGIN_V) * r * 1e6, abs=1)
    level = [0]
    s = Sensor(lambda: level[0], *cfg, adc_floor_v=floor_v)
    for uv, inside in ((0, False), (int(floor_v * 1e6), False), (3_100_000, False),
                       (s.uv_low - 1, False), (s.uv_low, True), (s.uv_high, True),
                       (s.uv_high + 1, False)):
        level[0] = uv
        s.read()
        assert s.in_window is inside, (uv, s.uv_low, s.uv_high)


@DET
@given(v0=st.floats(0.2, 4.0), span=st.floats(1.0, 6.0), fs=st.integers(100, 2000),
       ratio=st.floats(0.05, 1.0), mcu=st.sampled_from(sorted(ADC_FLOOR_V)),
       noise_uv=st.integers(0, 20000))
def test_open_wire_is_out_of_window_for_every_board_the_loader_accepts(v0, span, fs, ratio, mcu,
                                                                        noise_uv):
    # boardcfg promises 0 mmHg at >= ADC_ZERO_ABOVE_FLOOR_V over the chip's ADC floor and full
    # scale at <= 2.9 V; with those, an open wire (the floor, plus up to 20 mV of noise) must
    # be outside the window, and 0 mmHg inside it
    vfs = v0 + span
    floor = ADC_FLOOR_V[mcu]
    if v0 * ratio < floor + ADC_ZERO_ABOVE_FLOOR_V or vfs * ratio > 2.9:
        return
    s = Sensor(const(int(floor * 1e6) + noise_uv), v0, vfs, fs, ratio, adc_floor_v=floor)
    s.read()
    assert not s.in_window and s.bad_run == 1, (s.uv_low, s.uv_zero)
    assert s.uv_low < s.uv_zero < s.uv_high          # and 0 mmHg itself is inside
    # with room for a zero a little low: the full margin, or what the floor leaves of it
    room = min(SENSOR_MARGIN_V * ratio, ADC_ZERO_ABOVE_FLOOR_V - ADC_FLOOR_GUARD_V)
    assert s.uv_zero - s.uv_low >= room * 1e6 - 2


def test_bad_run_counts_consecutive_out_of_window_reads():
    level = [0]
    s = Sensor(lambda: level[0], 0.5, 4.5, 300, 0.5)
    runs = []
    for uv in [0, 0, 0, 1_000_000, 3_100_000, 3_100_000, 0, 300_000, 0]:
        level[0] = uv
        s.read()
        runs.append(s.bad_run)
    assert runs == [1, 2, 3, 0, 1, 2, 3, 0, 1]


def test_read_averages_the_oversamples_and_applies_the_zero():
    values = iter([1_000_000, 1_000_001, 1_000_002, 1_000_005, 250_000, 250_000, 250_000,
                   250_000])
    s = Sensor(lambda: next(values), 0.5, 4.5, 300, 0.5, oversample=4)
    p = s.read()
    assert s.uv == 1_000_002                    # floor of the mean of four
    assert p == s.raw_dmmhg == s.to_dmmhg(1_000_002)
    assert p == pytest.approx(exact((0.5, 4.5, 300, 0.5), 1_000_002), abs=1)
    s.zero_dmmhg = 40
    assert s.read() == s.to_dmmhg(250_000) - 40 == -40


def uv_for(s, dmmhg):
    """The lowest reading that converts to dmmhg (the transfer function is monotonic)."""
    lo, hi = 0, ADC_MAX_UV
    while lo < hi:
        mid = (lo + hi) // 2
        if s.to_dmmhg(mid) < dmmhg:
            lo = mid + 1
        else:
            hi = mid
    assert s.to_dmmhg(lo) == dmmhg
    return lo


@pytest.mark.parametrize("offset,ok", [(0, True), (57, True), (-57, True),
                                       (MAX_ZERO_OFFSET_MMHG * 10, True),
                                       (-MAX_ZERO_OFFSET_MMHG * 10, True),
                                       (MAX_ZERO_OFFSET_MMHG * 10 + 1, False),
                                       (-MAX_ZERO_OFFSET_MMHG * 10 - 1, False),
                                       (500, False)])
def test_zero_capture_refuses_an_implausible_offset(offset, ok):
    level = [0]
    s = Sensor(lambda: level[0], 0.5, 4.5, 300, 0.5)
    s.zero_dmmhg = 7                           # an earlier zero, kept if the new one is refused
    s.zero_begin()
    level[0] = uv_for(s, offset)
    for _ in range(10):
        s.read()
        s.zero_add()
    assert s.zero_candidate() == offset
    assert s.zero_commit() is ok
    assert s.zero_dmmhg == (offset if ok else 7)
    if ok:
        assert s.read() == 0                   # the same reading is now 0 mmHg


def test_zero_averages_and_needs_samples():
    level = [0]
    s = Sensor(lambda: level[0], 0.5, 4.5, 300, 0.5)
    s.zero_begin()
    assert not s.zero_commit() and s.zero_candidate() == 0
    for d in (30, 40, 50, 61):
        level[0] = uv_for(s, d)
        s.read()
        s.zero_add()
    assert s.zero_candidate() == 45 and s.zero_commit() and s.zero_dmmhg == 45
    s.zero_begin()                              # a new capture starts from nothing
    assert not s.zero_commit() and s.zero_dmmhg == 45


def test_same_readings_under_micropython(micropython):
    code = r'''
import json
from pressure import Sensor
configs = %r
out = []
for cfg in configs:
    s = Sensor(lambda: 0, *cfg)
    pts = [s.uv_zero, s.uv_low, s.uv_high]
    uv = 0
    while uv <= 3300000:
        pts.append(uv)
        uv += 33331
    out.append([s.uv_zero, s.uv_low, s.uv_high, [s.to_dmmhg(u) for u in pts]])
level = [0]
s = Sensor(lambda: level[0], 0.5, 4.5, 300, 0.5)
seen = []
for uv in (0, 0, 3100000, 1000000, 0, 0, 0, 0):
    level[0] = uv
    s.read()
    seen.append([s.in_window, s.bad_run, s.p_dmmhg])
s.zero_begin()
for uv in (262000, 263000, 264000):
    level[0] = uv
    s.read()
    s.zero_add()
ok = s.zero_commit()
level[0] = 400000
seen.append([ok, s.zero_dmmhg, s.read()])
s.zero_begin()
level[0] = 400000
s.read()
s.zero_add()
seen.append([s.zero_commit(), s.zero_dmmhg, s.zero_candidate()])
print(json.dumps([out, seen]))
''' % (CONFIGS,)
    out, seen = both(micropython, code)
    for cfg, (zero, low, high, values) in zip(CONFIGS, out):
        assert zero == Sensor(const(0), *cfg).uv_zero
        scan = range(0, 3300001, 33331)
        assert all(abs(d - exact(cfg, u)) < 2 for d, u in zip(values[3:], scan))
    assert [x[:2] for x in seen[:8]] == [[False, 1], [False, 2], [False, 3], [True, 0],
                                        [False, 1], [False, 2], [False, 3], [False, 4]]
    ok, zero, p = seen[8]
    assert ok and abs(zero - 19.5) <= 1            # 0.262-0.264 V: about 2 mmHg
    assert abs(p + zero - 225) <= 1                # 0.4 V -> 0.8 V -> 22.5 mmHg, zeroed
    assert seen[9] == [False, zero, 225]           # a 22.5 mmHg offset: refused, zero kept


def test_a_second_zero_far_from_the_first_is_refused():
    """Within one boot the zero may move a little (warm-up), not by ZERO_REPEAT_DMMHG: air held
    in the boot by a dump that did not open must not become the new zero."""
    from limits import ZERO_REPEAT_DMMHG
    level = [0]
    s = Sensor(lambda: level[0], 0.5, 4.5, 300, 0.5)

    def capture(dmmhg):
        s.zero_begin()
        level[0] = uv_for(s, dmmhg)
        for _ in range(10):
            s.read()
            s.zero_add()
        return s.zero_commit()
    assert capture(20) and s.zero_dmmhg == 20          # the first: within the offset limit
    assert capture(20 + ZERO_REPEAT_DMMHG) and s.zero_dmmhg == 20 + ZERO_REPEAT_DMMHG
    assert not capture(20 + 2 * ZERO_REPEAT_DMMHG + 1)   # trapped air: refused, zero kept
    assert s.zero_dmmhg == 20 + ZERO_REPEAT_DMMHG


def test_same_run_counts_identical_readings():
    level = [300000]
    s = Sensor(lambda: level[0], 0.5, 4.5, 300, 0.5)
    s.read()
    for n in range(1, 4):
        s.read()
        assert s.same_run == n
    level[0] += 64
    s.read()
    assert s.same_run == 0
