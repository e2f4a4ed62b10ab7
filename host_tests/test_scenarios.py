"""The fault-scenario library (host_tests/scenarios/*.json): one or more scenarios per hazard
row of docs/SAFETY.md, each run with the firmware under MicroPython, asserting the detection
within its budget and a safe end. Each file's "expect" block says what must happen:

  fault      codes one of which must be the first fault the firmware reports ([] = none)
  after      what the budget is measured from: injection, ceiling_crossed, vent_start,
             rest_start, pump_off (the firmware stops the pump), fill_start:K (chamber K)
  within_ms  the budget
  end        "vented" (every chamber below 15 mmHg at the end) or "vent_failed" (the firmware
             raised VENT_FAILED: there is no vent path left)
  trapped    chambers that physically cannot vent (their valve is stuck shut)
  reset      the board must have reset ("watchdog" or "brownout")
  not_resumed  after the reset no session runs
  safe_within_ms  every output at its safe state this soon after the injection
  chambers_below_mmhg  no chamber ever above this (an air source that cannot be stopped is
             kept off the leg)
  warning    text a firmware warning must contain
  warning_within_ms  ...and the first such warning comes this soon after the injection
  reason     the session's end reason
  not_cleared  K: a person's acknowledgement is refused because the check's puff finds chamber
             K's valve shut: no "clear" event, the refusal names chamber K, the fault stays
             latched to the end (the last status still shows it)
  dead       annunciators ("buzzer", "led") the firmware drove while they were dead
  cleared    a person's acknowledgement is accepted (a "clear" event; the last status shows no
             fault)
"""
import json
from pathlib import Path

import pytest

from sim.scenario import load
from sim.session import build_config, run
from sequencer import PUFF_MS, PUFF_VENT_MS

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.json"))
SAFE_MMHG = 15


def run_scenario(path, tmp_path, runtime="micropython"):
    scenario = load(path)
    trace = tmp_path / (path.stem + ".jsonl")
    summary, _ = run(build_config(scenario), runtime, str(trace), quiet=True)
    records = [json.loads(x) for x in trace.read_text().splitlines()]
    return scenario, summary, records


def _events(records, name):
    return [r for r in records if r["kind"] == "event" and r["event"] == name]


def reference_time(records, after, t_inj):
    if after == "injection":
        return t_inj
    if after == "ceiling_crossed":
        return min(e["t_ms"] for e in _events(records, "ceiling_crossed") if e["t_ms"] >= t_inj)
    phases = [e for e in _events(records, "phase") if e["t_ms"] >= t_inj]
    if after == "vent_start":
        return min(e["t_ms"] for e in phases if e["phase"] == "vent")
    if after == "rest_start":
        return min(e["t_ms"] for e in phases if e["phase"] == "rest")
    if after == "pump_off":
        return min(e["t_ms"] for e in phases if e["phase"] == "settle")
    if after.startswith("fill_start:"):
        k = int(after.split(":")[1])
        return min(e["t_ms"] for e in phases if e["phase"] == "fill" and e["chamber"] == k)
    raise ValueError(after)


def measure(scenario, summary, records):
    """The figures the expectations are checked against (also used for docs/SAFETY.md)."""
    exp = scenario["expect"]
    # (a scenario with no fault at all, e.g. letdown_long_squeeze: measured from the start)
    t_inj = min((e["t_ms"] for e in _events(records, "fault_injected")), default=0)
    faults = [e for e in _events(records, "fault") if e.get("source") != "sim"
              and e["t_ms"] >= t_inj]
    out = {"t_injected_ms": t_inj, "codes": [f["code"] for f in faults]}
    if faults and exp.get("after"):
        t_ref = reference_time(records, exp["after"], t_inj)
        out["detect_ms"] = faults[0]["t_ms"] - t_ref
        out["t_fault_ms"] = faults[0]["t_ms"]
    return out


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path, tmp_path):
    scenario, summary, records = run_scenario(path, tmp_path)
    exp = scenario["expect"]
    m = measure(scenario, summary, records)
    samples = [r for r in records if r["kind"] == "sample"]
    n = len(samples[0]["valves"])
    if exp["fault"]:
        assert m["codes"], f"no fault detected; summary {summary}"
        assert m["codes"][0] in exp["fault"], m
        assert m["detect_ms"] <= exp["within_ms"], m
        # the response: from the trip on, the pump is off and every path is open, except
        # what the injected faults hold physically
        stuck = {f["fault"] for f in summary["faults_injected"]}
        resp = [s for s in samples if m["t_fault_ms"] <= s["t_ms"] <= m["t_fault_ms"] + 10]
        if "pump_stuck_on" not in stuck:
            assert any(s["pump"] == 0 for s in resp), resp
        if "dump_stuck_closed" not in stuck:
            assert any(s["dump"] == 1 for s in resp), resp
    else:
        assert m["codes"] == [], m
    last = samples[-1]
    trapped = set(exp.get("trapped", []))
    if exp["end"] == "vented":
        assert max(last["p_chambers_mmhg"]) < SAFE_MMHG, last
    else:
        assert "VENT_FAILED" in m["codes"], m
        for i in range(n):
            if i + 1 not in trapped and "dump_stuck_closed" not in \
                    {f["fault"] for f in summary["faults_injected"]}:
                assert last["p_chambers_mmhg"][i] < SAFE_MMHG, (i + 1, last)
    if "reset" in exp:
        resets = _events(records, "reset")
        assert resets and resets[0]["cause"] == exp["reset"], resets
    if exp.get("not_resumed"):
        t_reset = _events(records, "reset")[0]["t_ms"]
        assert not [e for e in _events(records, "start") if e["t_ms"] > t_reset]
        # the pump runs only for the valve check's puffs (PUFF_MS each), not a session
        pumping = [s["t_ms"] for s in samples if s["t_ms"] > t_reset + 100 and s["pump"]]
        assert not pumping or pumping[-1] - pumping[0] <= n * (PUFF_MS + PUFF_VENT_MS), pumping
        assert not [e for e in _events(records, "phase") if e["t_ms"] > t_reset and
                    e["phase"] == "fill"]
    if "safe_within_ms" in exp:
        safe = [s for s in samples if s["t_ms"] >= m["t_injected_ms"] and s["pump"] == 0
                and s["dump"] == 1 and s["valves"] == [1] * n]
        assert safe and safe[0]["t_ms"] - m["t_injected_ms"] <= exp["safe_within_ms"]
    if "warning" in exp:
        texts = [e.get("text", "") for e in _events(records, "warning")]
        assert any(exp["warning"] in t for t in texts), texts
        if "warning_within_ms" in exp:
            first = min(e["t_ms"] for e in _events(records, "warning")
                        if exp["warning"] in e.get("text", ""))
            assert first - m["t_injected_ms"] <= exp["warning_within_ms"], first
    if "chambers_below_mmhg" in exp:
        worst = max(max(s["p_chambers_mmhg"]) for s in samples)
        assert worst < exp["chambers_below_mmhg"], worst
    if "reason" in exp:
        assert summary["end_reason"] == exp["reason"], summary
    if "dead" in exp:
        # each dead annunciator was driven while dead (an alarm into nothing), as the trace says
        for k in exp["dead"]:
            assert any(s.get(k) and k in s.get("dead", []) for s in samples), k
    if exp.get("cleared"):
        assert _events(records, "clear"), _events(records, "clear_refused")
        assert _events(records, "status")[-1]["fault"] == "NONE"
    if exp.get("not_cleared"):
        refused = _events(records, "clear_refused")
        assert refused and not _events(records, "clear")
        assert (refused[0]["why"], refused[0]["chamber"]) == ("valve shut", exp["not_cleared"])
        assert _events(records, "status")[-1]["fault"] in exp["fault"] + ["VENT_FAILED"]
