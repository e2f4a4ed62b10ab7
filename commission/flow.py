"""The commissioning's steps, driven over the maintenance link (link.py), judged by steps.py.

Each step returns an item for the report: {"name", "pass", "fix": [what to do], figures...}.
The person answers through an Asker (cli.py: the terminal; virtual.py: an answers file and the
bench's gauge). Time is the boot's own (each reply's t_ms), never the computer's.
"""
from commission import steps as S

from valves import PUMP_ON  # noqa: E402,I100  (the pump bit in a reply's cmd: valves.py)

FIT_PULSE_MS = 50          # the first pump pulse: a blocked path (fit under 100 ms) shows at once
FILL_PULSE_MS = 300        # then these (limits.MAINT_PUMP_MAX_MS), shorter near FILL_TO_MMHG
SEAL_WATCH_MS = 5000       # the chamber shut off, the dump open: what it keeps over this long
VENTED_FOR_MS = 1000       # below SAFE_MMHG this long: vented (safety.VENT_CONFIRM_MS)
SETTLE_WAIT_MS = 15000     # a vent that takes longer: reported as it is
HELD_MARGIN_MS = 4000      # the requests' own time (a few hundred ms each) on top


class FlowError(Exception):
    """The boot refused a request the flow relies on; the text says which and why."""


class Flow:
    def __init__(self, link, board, asker, hold_s=30, say=print):
        self.link = link
        self.board = board
        self.n = board["chambers"]
        self.ask = asker
        self.hold_ms = int(hold_s * 1000)
        self.say = say

    # --- requests ---------------------------------------------------------------------------
    def req(self, line, must=True):
        r = self.link.request(line)
        if must and not r.get("ok"):
            raise FlowError(f"the boot refused '{line}': {r.get('why')}")
        return r

    def p(self, r):
        return r["p_dmmhg"] / 10

    def _isolate(self, k):
        """The dump and every chamber but k shut (k open)."""
        self.req("close 0")
        for j in range(1, self.n + 1):
            self.req(f"close {j}" if j != k else f"open {j}")

    def vent_and_wait(self):
        """Every path open; read until below SAFE_MMHG for VENTED_FOR_MS. Returns (ms from the
        vent to the first reading below SAFE_MMHG or None, the readings)."""
        r = self.req("vent")
        t0, below_ms, series = r["t_ms"], None, []
        while r["t_ms"] - t0 < SETTLE_WAIT_MS:
            r = self.req("read")
            series.append((r["t_ms"] - t0, self.p(r)))
            if self.p(r) < S.L.SAFE_MMHG:
                if below_ms is None:
                    below_ms = r["t_ms"] - t0
                if r["t_ms"] - t0 - below_ms >= VENTED_FOR_MS:
                    break
            else:
                below_ms = None
        self.vented_ms = r["t_ms"]
        return below_ms, series

    def reads(self, count):
        return [self.req("read") for _ in range(count)]

    # --- 1. outputs -------------------------------------------------------------------------
    def outputs(self):
        fix = []
        for k in range(0, self.n + 1):
            name = "the dump valve" if k == 0 else f"valve {k}"
            self.req(f"close {k}")
            if not self._ask("confirm", f"click_{k}", f"Did {name} click (it closes now)?"):
                fix.append(f"{name} did not click: check its wire, its MOSFET and its "
                           "flyback diode (docs/HARDWARE.md), and the pin in the board file")
            self.req(f"open {k}")
        for _ in range(2):                  # every path open: the air goes out of the dump
            self.req(f"pump {FILL_PULSE_MS}")
            self.reads(2)
        if not self._ask("confirm", "pump", "Did the pump run twice, briefly?"):
            fix.append("the pump did not run: check its supply, its MOSFET and the pump pin")
        return {"name": "outputs", "pass": not fix, "fix": fix}

    # --- 2. zero and noise ------------------------------------------------------------------
    def zero(self):
        self.vent_and_wait()
        uvs = [r["uv"] for r in self.reads(20)]
        item = S.zero_check(uvs, self.board["sensor"])
        item["name"] = "zero and noise"
        if item["pass"] and abs(item["zero_mmhg"]) > S.CAL_TOLERANCE_MMHG:
            item["note"] = ("the board file's zero is %.1f mmHg off: the calibration (step 3) "
                            "corrects it" % item["zero_mmhg"])
        self.zero_uv = sum(uvs) / len(uvs)
        return item

    # --- 3. calibration ---------------------------------------------------------------------
    def gauge_points(self, pressures):
        """Every path shut, the pump never on: for each pressure the person pumps the gauge's
        bulb and types what the gauge reads. Returns [(mean microvolts, gauge mmHg, the boot's
        own reading)]; the vented zero first."""
        points = [(self.zero_uv, 0.0, None)]
        for target in pressures:
            points.append(self.gauge_point(target, f"gauge_{target}"))
        return points

    def gauge_point(self, target, key):
        """Every path shut; the person pumps the gauge's bulb to about target mmHg (within
        limits.MAINT_HELD_MAX_MS: held longer, the boot vents) and types the gauge's reading.
        Returns (mean microvolts, gauge mmHg, the boot's mean reading); vented after."""
        for k in range(0, self.n + 1):
            self.req(f"close {k}")
        self.req("bulb")            # the pump refused until a path opens (maint.py)
        with self.link.kept_alive():
            self.ask.bulb(target)
            gauge = self.ask.number(key, f"Squeeze the gauge's bulb to about {target} mmHg "
                                    "(within a minute), let it settle. What does the gauge "
                                    "read (mmHg)?")
        rs = [self.req("read", must=False) for _ in range(5)]
        if not rs[-1]["on"]:
            # (a read is refused once maintenance is over: say why it ended, not that)
            raise FlowError("maintenance ended while the air was held (%s, fault %s): take "
                            "each reading within a minute, and squeeze no higher than %d mmHg "
                            "(above it the boot takes the climb for a pump running on its "
                            "own)" % (rs[-1].get("end"), rs[-1].get("fault"),
                                      S.L.MAINT_BULB_MAX_MMHG))
        uv = sum(r["uv"] for r in rs) / len(rs)
        self.ask.bulb(0)
        self.vent_and_wait()
        return uv, gauge, sum(self.p(r) for r in rs) / len(rs)

    # --- 4. per chamber ---------------------------------------------------------------------
    def chamber(self, k):
        rec = {"chamber": k, "fit_ms": None, "blocked_ms": None, "fill_ms": None,
               "no_rise": False,
               "leak_mmhg_per_min": None, "kept_share": None,
               "vent_ms": None, "order_answer": None, "fill_series": [], "hold_series": []}
        self.vent_and_wait()
        self._isolate(k)
        r = self.req("read")
        t0, base = r["t_ms"], r["pumped_ms"]
        prev = (0, self.p(r))
        pulse = FIT_PULSE_MS            # a first short one: a blocked path shows at once
        while True:
            p, pumped = self.p(r), r["pumped_ms"] - base
            # the pump time to FIT_MMHG (and to the blocked mark), between the two readings
            # either side of it
            for key, mark in (("fit_ms", S.FIT_MMHG), ("blocked_ms", S.BLOCKED_MMHG)):
                if rec[key] is None and p >= mark:
                    rec[key] = round(prev[0] + (mark - prev[1]) * (pumped - prev[0]) /
                                     (p - prev[1])) if p > prev[1] else pumped
            prev = (pumped, p)
            if p >= S.FILL_TO_MMHG:
                rec["fill_ms"] = pumped
                break
            if pumped > S.L.FILL_TIMEOUT_MS:
                break
            r = self.req(f"pump {pulse}", must=False)
            if not r.get("ok"):
                why = r.get("why") or ""
                rec["no_rise"] = "did not rise" in why
                if not rec["no_rise"] and "at or above" not in why:
                    raise FlowError(f"the boot refused 'pump {pulse}': {why}")
                break
            while r["cmd"] & PUMP_ON or r["maint"] == "pump":
                r = self.req("read")
                rec["fill_series"].append((r["t_ms"] - t0, self.p(r), r["pumped_ms"] - base))
            pulse = FILL_PULSE_MS if self.p(r) < S.FILL_TO_MMHG - 10 else FIT_PULSE_MS * 2
        if rec["fill_ms"] is not None and not S.blocked(rec):
            self._hold(rec, t0)
            self._seal(rec, k)
            # asked last, its air still in (the answer's time does not shorten the hold)
            rec["order_answer"] = self._ask(
                "chamber", f"order_{k}", f"Which chamber is firm now (1 = foot, {self.n} = "
                "the top)?", k)
        rec["vent_ms"], _ = self.vent_and_wait()
        item = S.judge_chamber(k, rec)
        item.update(rec, name=f"chamber {k}")
        return item

    def _ask(self, kind, key, question, *more):
        with self.link.kept_alive():
            return getattr(self.ask, kind)(key, question, *more)


    def _hold(self, rec, t0):
        r = self.req("read")
        start = r["t_ms"]
        # the air may be held limits.MAINT_HELD_MAX_MS since the chamber's vent: the seal
        # check's time and a margin stay free (a slow fill shortens the hold; it is reported)
        hold_ms = min(self.hold_ms, S.L.MAINT_HELD_MAX_MS - (start - self.vented_ms) -
                      SEAL_WATCH_MS - HELD_MARGIN_MS)
        rec["hold_ms"] = hold_ms
        ts, ps = [], []
        while r["t_ms"] - start < hold_ms:
            ts.append(r["t_ms"])
            ps.append(self.p(r))
            rec["hold_series"].append((r["t_ms"] - t0, self.p(r)))
            r = self.req("read")
        rec["leak_mmhg_per_min"] = round(-S.slope_per_min(ts, ps), 2)    # a loss: positive
        rec["held_mmhg"] = ps[-1] if ps else None

    def _seal(self, rec, k):
        """Chamber k shut with its air, the manifold let out through the open dump (as the
        firmware holds in a session: its hold watch judges meanwhile), then k opened again:
        what the chamber kept. A valve that leaks when shut loses its air to the dump."""
        before = rec.get("held_mmhg") or 0.0
        self.req(f"close {k}")
        r = self.req("open 0")
        start = r["t_ms"]
        while r["t_ms"] - start < SEAL_WATCH_MS:
            r = self.req("read")
        self.req("close 0")
        self.req(f"open {k}")
        after = sum(self.p(x) for x in self.reads(3)[1:]) / 2
        # what its own leak-down (measured in the hold) took meanwhile is not the valve's
        expected = before - (rec.get("leak_mmhg_per_min") or 0.0) * SEAL_WATCH_MS / 60000
        rec["kept_share"] = round(after / expected, 3) if expected > 0 else None
