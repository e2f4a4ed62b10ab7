# Physical model of the boot's pneumatics: pump, manifold, valves, chambers on a leg, leaks, and
# the pressure transducer read through the ESP32's ADC. Runs under CPython and MicroPython.
# docs/PLANT.md gives each parameter's source; the short reasons are beside the defaults here.
#
# Units: pressure in mmHg gauge, air in mL at atmospheric pressure ("standard mL"), time in s.
# Isothermal ideal gas. Each pressure is a state. The small, stiff manifold is stepped with
# implicit Euler and each chamber relaxes exponentially toward it through its valve, so a 5 ms
# step is stable and never overshoots equalisation.
import gc
import math
from array import array
from adcmodel import Adc

PATM_MMHG = 760.0
PA_PER_MMHG = 133.322
AIR_KG_M3 = 1.2
RAIL_LOW_V = 0.1            # a ratiometric transducer's output cannot reach its rails
RAIL_HIGH_V = 4.9
SHORT_V = 3.3               # sensor line shorted to the 3.3 V supply
LAMINAR_MMHG = 1.0          # below this pressure drop orifice flow is treated as linear
SEEP_ML_PER_MIN = 200.0     # a chamber's leak up to this (at 80 mmHg) seeps through seams and
                            # fittings, in proportion to the pressure; beyond it, a hole (a torn
                            # tube, a puncture): orifice flow, in proportion to its square root
SQUEEZE_RAMP_S = 0.5        # an outside load (a leg lying on a chamber) comes and goes this fast
C_MIN = 0.01                # std mL/mmHg: a loaded, empty, rigid chamber is never infinitely stiff

# name: default (see docs/PLANT.md for where each number comes from)
DEFAULTS = {
    "pump_free_flow_lpm": 12.0,    # 12 V diaphragm pump for massage chairs/cuffs
    "pump_max_mmhg": 450.0,        # its shut-off pressure (60 kPa)
    "pump_strength": 1.0,          # scales the flow: a weak or strong pump (0.7-1.3 in tests)
    "pump_spin_ms": 30.0,          # motor and diaphragm spin-up/spin-down time constant
    "manifold_volume_ml": 40.0,    # manifold block plus tubing to the valves
    "chamber_volume_ml": 500.0,    # air in one chamber at 80 mmHg on a leg (number or list)
    "chamber_residual_ml": 30.0,   # air left in a vented, collapsed chamber
    "chamber_half_mmhg": 20.0,     # pressure at which the bladder has taken half its slack
    "valve_orifice_mm": 4.0,       # chamber valve, 1/4" 2/2 normally-open solenoid valve
    "dump_orifice_mm": 5.0,        # dump valve, normally-open, larger
    "discharge_coeff": 0.6,        # sharp-edged orifice
    "leak_ml_per_min": 2.0,        # per chamber at 80 mmHg: seams and fittings (number or list)
    "relief_mmhg": 280.0,          # mechanical relief valve cracking pressure; null = none fitted
    "relief_orifice_mm": 3.0,
    "sensor_noise_mmhg": 0.3,      # transducer output noise, 1 sigma
    "adc_noise_mv": 2.0,           # ESP32 ADC noise after calibration, 1 sigma
    "adc_floor_mv": None,          # what a pin at 0 V reads; None: the chip's (adcmodel.py:
                                   # 142 on the esp32, 0 on the esp32s3)
    "step_ms": 5,                  # integration step
    "transducer": None,            # the plant's own transducer (keys of the board's "sensor"
                                   # block); None: as the board file says
}


def _orifice_k(diameter_mm, cd):
    """Standard mL/s through an orifice per sqrt(mmHg) of pressure drop (incompressible)."""
    area_m2 = math.pi * (diameter_mm * 1e-3) ** 2 / 4
    return cd * area_m2 * math.sqrt(2 * PA_PER_MMHG / AIR_KG_M3) * 1e6


def _secant(k, dp):
    """Conductance (mL/s per mmHg) of an orifice at pressure drop dp: flow / dp."""
    adp = dp if dp > 0 else -dp
    return k / math.sqrt(adp if adp > LAMINAR_MMHG else LAMINAR_MMHG)


def _per_chamber(value, n):
    if isinstance(value, (list, tuple)):
        return [float(v) for v in value]
    return [float(value)] * n


class _Rng:
    """xorshift32: the same sequence in CPython and MicroPython for a given seed."""

    def __init__(self, seed):
        self.s = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def next(self):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s

    def uniform(self):
        return (self.next() + 0.5) / 4294967296.0


class Plant:
    def __init__(self, chambers, sensor, params=None, seed=1, mcu="esp32"):
        p = dict(DEFAULTS)
        if params:
            p.update(params)
        self.params = p
        self.n = chambers
        self.dt_ms = int(p["step_ms"])
        cd = p["discharge_coeff"]
        self._k_valve = _orifice_k(p["valve_orifice_mm"], cd)
        self._k_dump = _orifice_k(p["dump_orifice_mm"], cd)
        self._k_relief = _orifice_k(p["relief_orifice_mm"], cd)
        self._relief = p["relief_mmhg"]
        self._q_free = p["pump_free_flow_lpm"] * 1000.0 / 60.0
        self._c_manifold = p["manifold_volume_ml"] / PATM_MMHG
        vols = _per_chamber(p["chamber_volume_ml"], chambers)
        # a collapsed chamber cannot hold more than a full one (else dV/dp < 0 and it blows up)
        self._v_res = [min(p["chamber_residual_ml"], v) for v in vols]
        half = p["chamber_half_mmhg"]
        self._half = half
        # V(p) = residual + span * p / (p + half), with V(80) = chamber_volume_ml
        self._v_span = [(v - r) * (80.0 + half) / 80.0 for v, r in zip(vols, self._v_res)]
        self._leak_q = _per_chamber(p["leak_ml_per_min"], chambers)     # mL/min at 80 mmHg
        self._leak = [0.0] * chambers       # seepage: mL/s per mmHg
        self._hole = [0.0] * chambers       # a hole: mL/s per sqrt(mmHg)
        for i in range(chambers):
            self._split_leak(i)
        # the transducer fitted: the board file's, unless "transducer" says the real part
        # differs (a miscalibrated board file); the board's stays the nominal one, as the
        # firmware converts (sensed_mmhg)
        self._nominal = (sensor["v_at_zero"], sensor["v_at_full_scale"],
                         sensor["full_scale_mmhg"], sensor["divider_ratio"])
        real = dict(sensor)
        real.update(p.get("transducer") or {})
        self._v0 = real["v_at_zero"]
        self._vfs = real["v_at_full_scale"]
        self._fs = real["full_scale_mmhg"]
        self._ratio = real["divider_ratio"]
        self._noise_mmhg = p["sensor_noise_mmhg"]
        self._noise_v = p["adc_noise_mv"] / 1000.0
        floor = p["adc_floor_mv"]
        self.adc = Adc(mcu, None if floor is None else floor / 1000.0)   # the chip's ADC
        self._gauss = self._gauss_table(_Rng(seed), 1024)
        self._gi = seed & 1023
        # state
        self.t_ms = 0
        self.p_manifold = 0.0
        self.p_chambers = [0.0] * chambers
        self.spin = 0.0
        self._g = [0.0] * chambers      # per-step valve conductances (allocated once)
        self.watch_mmhg = 1e9           # record when the manifold climbs above this
        self.crossings = []
        # commanded outputs (True = energised)
        self.pump_cmd = False
        self.dump_cmds = [False]         # per dump valve (set_dumps: a second vent path)
        self.valve_cmd = [False] * chambers
        # faults: None = follows the command
        self.pump_forced = None          # True: stuck on, False: dead
        self.dumps_forced = [None]       # per dump: True = stuck closed
        self.valve_forced = [None] * chambers   # True: stuck closed, False: stuck open
        self.disconnected = [False] * chambers
        self.kinked = [False] * chambers    # the chamber's hose kinked shut: no air either way
        self.sensor_mode = 0             # 0 normal, 1 open, 2 short, 3 frozen
        self.sensor_offset_mmhg = 0.0
        self.sensor_gain = 1.0           # span error: the transducer sees gain x the pressure
        self.sensor_drift_mmhg_per_min = 0.0     # a zero that wanders, from _drift_t0_ms on
        self._drift_t0_ms = 0
        self._frozen_uv = 0
        # squeeze: an outside load on each chamber (mmHg), where it is going, how fast (mmHg/s)
        self.load_mmhg = [0.0] * chambers
        self._load_to = [0.0] * chambers
        self._load_rate = [0.0] * chambers
        self._loading = False
        # hoses: valve i feeds chamber feeds[i]; chamber j is fed by valve _fed_by[j]
        self.feeds = list(range(chambers))
        self._fed_by = list(range(chambers))

    @staticmethod
    def _gauss_table(rng, n):
        # Made lean for a small heap (a heap-capped run on the 32-bit MicroPython: the plant
        # shares the process): the values go into one array first, while the generator leaves
        # its garbage (big ints, boxed floats); then, that collected, the table's n floats are
        # boxed one after another in a single run. Kept among the garbage as they were made,
        # they would split the free heap into runs too short for a 1 KB buffer.
        vals = array("d", bytes(8 * n))
        for k in range(0, n, 2):
            u1 = rng.uniform()
            u2 = rng.uniform()
            r = math.sqrt(-2.0 * math.log(u1))
            vals[k] = r * math.cos(2 * math.pi * u2)
            if k + 1 < n:
                vals[k + 1] = r * math.sin(2 * math.pi * u2)
        gc.collect()
        out = [0.0] * n
        for k in range(n):
            out[k] = vals[k]
        return out

    def _noise(self):
        self._gi = (self._gi * 1103515245 + 12345) & 0x7FFFFFFF
        return self._gauss[self._gi & 1023]

    # --- physical state of the actuators (commands with faults applied) --------------------
    def pump_running(self):
        return self.pump_cmd if self.pump_forced is None else self.pump_forced

    def set_dumps(self, n):
        """The board has n dump valves (outputs.dump_pins), each its own path to the air."""
        self.dump_cmds = [False] * n
        self.dumps_forced = [None] * n

    # dump_cmd and dump_forced speak for every dump at once (the one-dump form): setting one
    # sets each dump; dump_forced reads True only when no dump can open
    @property
    def dump_cmd(self):
        return self.dump_cmds[0]

    @dump_cmd.setter
    def dump_cmd(self, closed):
        for d in range(len(self.dump_cmds)):
            self.dump_cmds[d] = closed

    @property
    def dump_forced(self):
        for f in self.dumps_forced:
            if f is not True:
                return None
        return True

    @dump_forced.setter
    def dump_forced(self, value):
        for d in range(len(self.dumps_forced)):
            self.dumps_forced[d] = value

    def dump_k_open(self, d):
        """Dump d (0-based) is open to the air."""
        f = self.dumps_forced[d]
        return not (self.dump_cmds[d] if f is None else f)

    def dump_open(self):
        """Any dump is open to the air."""
        for d in range(len(self.dump_cmds)):
            if self.dump_k_open(d):
                return True
        return False

    def valve_open(self, i):
        f = self.valve_forced[i]
        closed = self.valve_cmd[i] if f is None else f
        return not closed

    # --- model -----------------------------------------------------------------------------
    def _bladder(self, i, p):
        """(q, dq/dp, dq/dload): the part of p that inflates the bladder under the outside load
        (docs/PLANT.md, squeeze): q = p - load (1 - exp(-p / load))."""
        load = self.load_mmhg[i]
        if load <= 1e-9:
            return p, 1.0, (-1.0 if p > 0 else 0.0)
        e = math.exp(-p / load)
        return p - load * (1.0 - e), 1.0 - e, -(1.0 - e) + p / load * e

    def chamber_capacity(self, i, p):
        """d(air)/d(pressure) of chamber i at p: standard mL per mmHg."""
        span = self._v_span[i]
        half = self._half
        q, dq = p, 1.0
        if self.load_mmhg[i] > 0:
            q, dq, _ = self._bladder(i, p)
        v = self._v_res[i] + span * q / (q + half)
        dv = span * half / ((q + half) * (q + half)) * dq
        c = (v + (PATM_MMHG + p) * dv) / PATM_MMHG
        return c if c > C_MIN else C_MIN

    def chamber_air_ml(self, i):
        """The air in chamber i, standard mL."""
        q = self._bladder(i, self.p_chambers[i])[0]
        v = self._v_res[i] + self._v_span[i] * q / (q + self._half)
        return v * (PATM_MMHG + self.p_chambers[i]) / PATM_MMHG

    def squeeze(self, i, mmhg):
        """An outside load on chamber i (the leg lying on it) moves to mmhg over
        SQUEEZE_RAMP_S; 0 takes it off."""
        self._load_to[i] = float(mmhg)
        self._load_rate[i] = abs(mmhg - self.load_mmhg[i]) / SQUEEZE_RAMP_S
        self._loading = True

    def _ramp_loads(self, dt):
        # the load changes at the same air: dm = 0 gives dp = -(760+p) V'(q) dq/dload dL / (760 C)
        moving = False
        pc = self.p_chambers
        for i in range(self.n):
            load, to = self.load_mmhg[i], self._load_to[i]
            if load == to:
                continue
            step = self._load_rate[i] * dt
            dl = (to - load) if abs(to - load) <= step else (step if to > load else -step)
            p = pc[i]
            q, _, dq_dl = self._bladder(i, p)
            half = self._half
            dv = self._v_span[i] * half / ((q + half) * (q + half))
            dp = -(PATM_MMHG + p) * dv * dq_dl * dl / (PATM_MMHG * self.chamber_capacity(i, p))
            pc[i] = p + dp if p + dp > 0 else 0.0
            self.load_mmhg[i] = load + dl
            moving = moving or self.load_mmhg[i] != to
        self._loading = moving

    def advance(self, until_ms):
        """Integrate in fixed steps up to until_ms (a remainder smaller than a step waits)."""
        dt_ms = self.dt_ms
        watch = self.watch_mmhg
        while self.t_ms + dt_ms <= until_ms:
            below = self.p_manifold <= watch
            self._step(dt_ms / 1000.0)
            self.t_ms += dt_ms
            if below and self.p_manifold > watch:
                self.crossings.append(self.t_ms)

    def _step(self, dt):
        p = self.params
        pc = self.p_chambers
        pm = self.p_manifold
        g = self._g
        tau = p["pump_spin_ms"] / 1000.0
        if self._loading:
            self._ramp_loads(dt)
        target = 1.0 if self.pump_running() else 0.0
        self.spin += (target - self.spin) * (1.0 - math.exp(-dt / tau))
        # Manifold: implicit Euler over everything joined to it. Its capacity is tiny next to a
        # chamber's, so it settles within a step; the implicit step stays exact and stable.
        # Pump flow q0 * (1 - pm / pump_max_mmhg) is linear in pm, so it enters implicitly too.
        # Orifice conductances are secants at the start of the step.
        q0 = p["pump_strength"] * self._q_free * self.spin if self.spin > 1e-4 else 0.0
        cdt = self._c_manifold / dt
        num = cdt * pm + q0
        den = cdt + q0 / p["pump_max_mmhg"]
        for i in range(self.n):
            if self.valve_open(i) and not self.kinked[self.feeds[i]]:
                j = self.feeds[i]           # the chamber valve i's hose goes to
                other = 0.0 if self.disconnected[j] else pc[j]
                g[i] = _secant(self._k_valve, pm - other)
                num += g[i] * other
                den += g[i]
            else:
                g[i] = 0.0
        for d in range(len(self.dump_cmds)):
            if self.dump_k_open(d):
                den += _secant(self._k_dump, pm)    # each open dump, a path of its own
        relief = self._relief
        if relief is not None and pm > relief:
            gr = _secant(self._k_relief, pm - relief)
            num += gr * relief
            den += gr
            pm = num / den
        else:
            pm = num / den
            if relief is not None and pm > relief:
                # the relief cracks within this step: solve again with it open
                gr = _secant(self._k_relief, pm - relief)
                pm = (num + gr * relief) / (den + gr)
        if pm < 0:
            pm = 0.0
        self.p_manifold = pm
        # chambers: each relaxes toward the manifold through its open valve, and leaks
        for i in range(self.n):
            ci = self.chamber_capacity(i, pc[i])
            if self.disconnected[i]:
                # hose off: the chamber empties through the open end
                pc[i] = self._to_atm(pc[i], ci, self._k_valve, dt)
                continue
            gi = g[self._fed_by[i]]
            if gi > 0:
                pc[i] = pm + (pc[i] - pm) * math.exp(-gi * dt / ci)
            if pc[i] > 0:
                pc[i] -= self._leak[i] * pc[i] * dt / ci
                if self._hole[i] > 0 and pc[i] > 0:
                    # a hole: exact over the step with its secant frozen (never below 0)
                    pc[i] = self._to_atm(pc[i], ci, self._hole[i], dt)
            if pc[i] < 0:
                pc[i] = 0.0

    @staticmethod
    def _to_atm(pa, ca, k, dt):
        if pa <= 0:
            return pa
        g = k / math.sqrt(pa if pa > LAMINAR_MMHG else LAMINAR_MMHG)
        return pa * math.exp(-g * dt / ca)

    # --- the transducer and the ADC ----------------------------------------------------------
    def _seen_mmhg(self):
        """The pressure the transducer's output stands for: span error, offset and drift."""
        return self.p_manifold * self.sensor_gain + self.sensor_offset_mmhg + \
            self.sensor_drift_mmhg_per_min * (self.t_ms - self._drift_t0_ms) / 60000.0

    def drift_sensor(self, mmhg_per_min):
        """The zero starts to wander at this rate now (0: the drift and all it drifted go)."""
        self.sensor_drift_mmhg_per_min = float(mmhg_per_min)
        self._drift_t0_ms = self.t_ms

    def sensor_volts(self):
        """Transducer output, noise-free."""
        p = self._seen_mmhg()
        v = self._v0 + (self._vfs - self._v0) * p / self._fs
        return min(max(v, RAIL_LOW_V), RAIL_HIGH_V)

    def read_uv(self):
        """One `ADC.read_uv()` of the pin: the chip's calibrated reading (adcmodel.py: its
        floor, its flattening top, whole millivolts), in microvolts."""
        mode = self.sensor_mode
        if mode == 3:
            return self._frozen_uv
        if mode == 1:
            v = 0.0         # the divider's lower leg pulls the open node to ground
        elif mode == 2:
            v = SHORT_V
        else:
            p = self._seen_mmhg() + self._noise_mmhg * self._noise()
            v = self._v0 + (self._vfs - self._v0) * p / self._fs
            v = min(max(v, RAIL_LOW_V), RAIL_HIGH_V) * self._ratio
        v += self._noise_v * self._noise()
        return self.adc.read_uv(v)

    def no_garment(self, i):
        """Chamber i is not around a leg: the free bladder takes some twenty times the air to
        reach the same low pressure (a stand-in for a bladder that balloons)."""
        self._v_span[i] *= 20.0

    def cross_hoses(self, a, b):
        """The hoses of chambers a and b (0-based) are swapped at the valves: valve a feeds
        chamber b and valve b chamber a. Doing it again puts them right."""
        f = self.feeds
        f[a], f[b] = f[b], f[a]
        for i in range(self.n):
            self._fed_by[f[i]] = i

    def garment_on(self, i):
        """The end of no_garment: the bladder is around the leg again (its pressure kept)."""
        self._v_span[i] /= 20.0

    def add_leak(self, i, ml_per_min_at_80):
        """Chamber i leaks ml_per_min_at_80 more (less, when negative: a leak that ends)."""
        self._leak_q[i] += ml_per_min_at_80
        self._split_leak(i)

    def _split_leak(self, i):
        # seepage up to SEEP_ML_PER_MIN, linear in p; the rest an orifice, k sqrt(p): the two
        # add up to the chamber's leak at 80 mmHg, and agree with the linear model up to 200
        q = self._leak_q[i]
        seep = q if q < SEEP_ML_PER_MIN else SEEP_ML_PER_MIN
        self._leak[i] = (seep if seep > 0 else 0.0) / 60.0 / 80.0
        hole = q - SEEP_ML_PER_MIN
        self._hole[i] = hole / 60.0 / math.sqrt(80.0) if hole > 0 else 0.0

    def bulb_to(self, mmhg):
        """A hand bulb on the manifold (a reference gauge's: commissioning's calibration)
        pumped to mmHg, or let down to it by its release screw: the manifold's air alone, the
        paths as they are (closed, for a calibration)."""
        self.p_manifold = max(0.0, float(mmhg))

    def freeze_sensor(self):
        self._frozen_uv = self.read_uv()
        self.sensor_mode = 3

    def sensed_mmhg(self):
        """What the transducer reports, noise-free, through the board file's transfer function
        as the firmware converts it, through the chip's ADC (for the trace)."""
        if self.sensor_mode == 1:
            pin = 0.0
        elif self.sensor_mode == 2:
            pin = SHORT_V
        elif self.sensor_mode == 3:
            pin = self._frozen_uv / 1e6
        else:
            pin = self.sensor_volts() * self._ratio
        if self.sensor_mode != 3:
            pin = self.adc.reading_v(pin)
        v0, vfs, fs, ratio = self._nominal
        return (pin / ratio - v0) * fs / (vfs - v0)
