"""Issue 15: boot-commission against the virtual ESP32 (tools/vesp32.py) with the real mpremote
serial transport, the firmware's maintenance mode (maint.py, maintlink.py) and the plant; and
the judging (commission/steps.py) on its own."""
import json
import shutil
import sys
import time
from pathlib import Path

import pytest

from commission import cli, steps as S
from commission.link import MaintLink
from commission.virtual import VirtualBoard
from sim import paths

BOARD = paths.ROOT / "boards" / "esp32-devkitc-4ch.json"
SPEED = 10          # simulated seconds a wall second (the idle timeout: 0.5 s of wall time)


# --- the judging ------------------------------------------------------------------------------
SENSOR = {"adc_pin": 34, "v_at_zero": 0.5, "v_at_full_scale": 4.5, "full_scale_mmhg": 300,
          "divider_ratio": 0.5}


def _uv(mmhg, v0=0.5, vfs=4.5):
    return (v0 + (vfs - v0) * mmhg / 300) * 0.5e6


def test_the_calibration_finds_the_transducers_own_line_from_the_gauge():
    wrong = dict(SENSOR, v_at_zero=0.6)             # the board file 0.1 V off
    points = [(_uv(p), p + e) for p, e in ((0, 0.0), (40, 0.4), (80, -0.3), (120, 0.2))]
    cal = S.calibrate(points, wrong)
    assert abs(cal["v_at_zero"] - 0.5) < 0.005 and abs(cal["v_at_full_scale"] - 4.5) < 0.02
    assert max(abs(r) for r in cal["residuals_mmhg"]) < 0.5
    assert min(cal["old_error_mmhg"]) < -4          # the wrong file read 5-8 mmHg low
    with pytest.raises(ValueError):
        S.calibrate([(_uv(40), 40.0), (_uv(40), 41.0)], SENSOR)


def test_the_chamber_verdicts_use_the_firmwares_thresholds():
    ok = {"fit_ms": 1000, "blocked_ms": 2000, "fill_ms": 2400, "leak_mmhg_per_min": 1.0,
          "hold_ms": 30000, "kept_share": 0.97, "vent_ms": 300, "order_answer": 1}
    assert S.judge_chamber(1, ok)["pass"]
    cases = [({"blocked_ms": S.SQ.FIT_FAST_MS - 1}, "kinked"),
             ({"fit_ms": None, "fill_ms": None, "no_rise": True}, "hose is off"),
             ({"fit_ms": S.SQ.FIT_TIMEOUT_MS + 1}, "no garment"),
             ({"fill_ms": S.L.FILL_TIMEOUT_MS + 1}, "barely outruns"),
             ({"leak_mmhg_per_min": S.L.HOLD_LOSS_WARN_MMHG_PER_MIN}, "leaks 10.0 mmHg/min"),
             ({"kept_share": S.SEAL_KEPT_MIN - 0.01}, "leaks when shut"),
             ({"kept_share": 0.1}, "does not shut"),
             ({"vent_ms": S.L.VENT_BUDGET_MS + 1}, "to vent"),
             ({"order_answer": 3}, "fills chamber 3"),
             # what was not measured is a failure, never a pass (a slow fill ate the hold)
             ({"hold_ms": S.HOLD_MIN_MS - 1}, "not measured"),
             ({"hold_ms": -1920, "leak_mmhg_per_min": 0.0, "kept_share": None},
              "not measured"),
             ({"kept_share": None}, "not measured"),
             ({"vent_ms": None}, "did not read below")]
    for change, said in cases:
        v = S.judge_chamber(1, dict(ok, **change))
        assert not v["pass"] and said in " ".join(v["fix"]), (change, v)
    # just inside every threshold: a pass (a fast fit is not BLOCKED unless 30 mmHg came in it)
    edge = dict(ok, fit_ms=50, blocked_ms=S.SQ.FIT_FAST_MS, leak_mmhg_per_min=9.9,
                kept_share=S.SEAL_KEPT_MIN, vent_ms=S.L.VENT_BUDGET_MS, hold_ms=S.HOLD_MIN_MS)
    assert S.judge_chamber(1, edge)["pass"]


def test_the_calibration_asks_no_more_than_the_bulb_may_give():
    """The gauge's points stay under limits.MAINT_BULB_MAX_MMHG and, for an S3 whose USB console
    writes only in rest windows, under the ceiling less limits.REST_MARGIN_MMHG."""
    for name in ("esp32-devkitc-4ch.json", "esp32-s3-devkitc-6ch.json"):
        board = json.loads((paths.ROOT / "boards" / name).read_text())
        points, checks = S.gauge_plan(board)
        top = min(S.L.MAINT_BULB_MAX_MMHG,
                  board["limits"]["ceiling_mmhg"] - S.L.REST_MARGIN_MMHG)
        assert max(points + checks) < top and len(points) == 3 and points[0] > 10


class _EndedLink:
    """A boot that left maintenance (a bulb squeezed past its limit) once the person answered:
    every read refused."""

    def request(self, line):
        on = line.split()[0] != "read"
        return {"maint": line.split()[0], "ok": int(on), "on": int(on), "uv": 250000,
                "p_dmmhg": 0, "t_ms": 0, "end": "" if on else "fault",
                "fault": "NONE" if on else "PUMP_STUCK_ON", "why": "not in maintenance"}

    def kept_alive(self):
        import contextlib
        return contextlib.nullcontext()


class _Squeezer:
    def bulb(self, mmhg):
        pass

    def number(self, key, question):
        return 120.0


def test_a_calibration_point_the_boot_ended_says_why():
    fl = cli.F.Flow(_EndedLink(), {"chambers": 4, "sensor": SENSOR}, _Squeezer())
    with pytest.raises(cli.F.FlowError) as e:
        fl.gauge_point(90, "gauge_90")
    said = str(e.value)
    assert "PUMP_STUCK_ON" in said and "no higher than %d mmHg" % S.L.MAINT_BULB_MAX_MMHG \
        in said


# --- against the virtual ESP32 ----------------------------------------------------------------
def _scenario(tmp_path, name, **sc):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(dict({"board": str(BOARD)}, **sc)))
    return path


def _commission(tmp_path, scenario, *extra):
    report = tmp_path / "report"
    argv = ["--virtual", str(scenario), "--yes", "--report", str(report),
            "--speed", str(SPEED), "--serial-log", str(tmp_path / "serial.log"), *extra]
    said = []
    rc = cli.run(cli.parse(argv), say=said.append)
    data = json.loads((report / "report.json").read_text())
    return rc, {i["name"]: i for i in data["items"]}, said, report


def test_a_healthy_build_passes_every_step(tmp_path):
    """Outputs, zero, the calibration (the gauge 0.5 mmHg off the truth), and each chamber's
    fill, hold (10 s here; the faulty build's leaking chamber has the default 30 s), seal and
    vent: every item passes, and the board file is rewritten with the old one kept."""
    board = tmp_path / "board.json"
    shutil.copyfile(BOARD, board)
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"gauge_error_mmhg": 0.5}))
    sc = _scenario(tmp_path, "healthy")
    rc, items, said, report = _commission(tmp_path, sc, "--board", str(board),
                                          "--answers", str(answers), "--hold-s", "10")
    assert rc == 0, said
    assert [n for n in items] == ["outputs", "zero and noise", "calibration", "chamber 1",
                                  "chamber 2", "chamber 3", "chamber 4"]
    assert all(i["pass"] for i in items.values()), said
    cal = items["calibration"]
    assert max(abs(e) for e in cal["errors_mmhg"]) <= 3.0
    assert list(tmp_path.glob("board.before-calibration-*.json"))
    assert json.loads(board.read_text())["sensor"]["v_at_zero"] == cal["v_at_zero"]
    for k in range(1, 5):
        c = items[f"chamber {k}"]
        assert 500 < c["fit_ms"] < 3000 and c["fill_ms"] < 6000, c
        assert abs(c["leak_mmhg_per_min"]) < 3 and c["vent_ms"] < 2000, c
        assert (report / f"chamber-{k}.png").stat().st_size > 5000
    assert "PASS" in (report / "report.md").read_text()


def test_a_faulty_build_is_corrected_and_every_fault_named(tmp_path):
    """The board file's v_at_zero 0.1 V off the transducer's: the calibration corrects it to
    within 3 mmHg of the gauge. Chamber 1 leaks 300 mL/min: named with its leak-down figure;
    chamber 2's hose is kinked, chamber 3 has none on it (the hose end open), chamber 4's valve
    is stuck shut: each named. The command exits 1."""
    board = tmp_path / "board.json"
    data = json.loads(BOARD.read_text())
    data["sensor"]["v_at_zero"] = 0.6
    board.write_text(json.dumps(data))
    faults = [{"t_s": 0, "fault": "leak", "chamber": 1, "ml_per_min": 300},
              {"t_s": 0, "fault": "hose_kinked", "chamber": 2},
              {"t_s": 0, "fault": "hose_disconnect", "chamber": 3},
              {"t_s": 0, "fault": "valve_stuck_closed", "chamber": 4}]
    sc = _scenario(tmp_path, "faulty", board=str(board), faults=faults,
                   plant={"transducer": {"v_at_zero": 0.5}})
    rc, items, said, report = _commission(tmp_path, sc, "--board", str(board),
                                          "--steps", "calibration,chambers")
    assert rc == 1, said
    cal = items["calibration"]
    assert cal["pass"] and abs(cal["v_at_zero"] - 0.5) < 0.01, cal
    assert min(cal["before_mmhg"]) < -4 and max(abs(e) for e in cal["errors_mmhg"]) <= 3.0
    leak = items["chamber 1"]
    assert not leak["pass"] and leak["leak_mmhg_per_min"] >= 10, leak
    assert "chamber 1 leaks %.1f mmHg/min" % leak["leak_mmhg_per_min"] in leak["fix"][0]
    assert "kinked" in " ".join(items["chamber 2"]["fix"])
    assert "hose is off, or no chamber" in " ".join(items["chamber 3"]["fix"])
    assert "valve stuck shut" in " ".join(items["chamber 4"]["fix"])
    md = (report / "report.md").read_text()
    assert "FAIL" in md and "chamber 1 leaks" in md


def test_the_pump_never_runs_into_a_closed_manifold_and_a_pulled_cable_vents(tmp_path):
    """Every path shut: 'pump' is refused (the manifold does not move). Then chamber 1 filled
    to about 40 mmHg and the link dropped without a word, as a pulled cable: the boot leaves
    maintenance after limits.MAINT_IDLE_MS and vents: every chamber below 15 mmHg (true
    pressure, the bench's) within the idle time and the vent budget."""
    vb = VirtualBoard(_scenario(tmp_path, "pull"), speed=SPEED)
    link = MaintLink(vb.port)
    try:
        link.open()
        for k in range(0, 5):
            assert link.request(f"close {k}")["ok"]
        before = vb.bench.true()[0]
        r = link.request("pump 300")
        assert not r["ok"] and "every path is closed" in r["why"]
        for _ in range(3):
            r = link.request("read")
            assert not r["cmd"] & cli.F.PUMP_ON
        assert abs(vb.bench.true()[0] - before) < 1.0
        link.request("open 1")
        while link.request("read")["p_dmmhg"] < 400:
            r = link.request("pump 300")
            assert r["ok"], r
        full = vb.bench.true()
        assert full[2][0] > 35, full
        link.transport.close()          # the cable pulled: no leave, no more requests
        link.transport = None
        t_pull = full[1]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            manifold, t_ms, chambers = vb.bench.true()
            if max(chambers + [manifold]) < 15:
                break
            time.sleep(0.05)
        assert max(chambers + [manifold]) < 15, (chambers, manifold)
        assert t_ms - t_pull <= 5000 + 5000 + 1000, t_ms - t_pull   # idle + vent budget
    finally:
        if link.transport is not None:
            link.transport.close()
        vb.close()


def test_a_port_that_is_not_there_is_a_clear_error_and_a_report(tmp_path, capsys):
    """A real boot's port that does not exist: exit 2 (could not finish), the reason said, a
    report written; a misspelt step or a missing file is refused before anything starts."""
    said = []
    rc = cli.run(cli.parse(["--port", "/dev/ttyUSB9-not-here", "--board", str(BOARD),
                            "--report", str(tmp_path / "r")]), say=said.append)
    assert rc == 2 and "cannot open /dev/ttyUSB9-not-here" in " ".join(said), said
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert not data["pass"] and data["items"][-1]["name"] == "could not finish"
    for argv, says in ((["--virtual", str(BOARD), "--steps", "zero,chamber"], "no step"),
                       (["--virtual", str(tmp_path / "nope.json")], "no scenario"),
                       (["--port", "/dev/x", "--answers", str(BOARD)], "for --virtual")):
        with pytest.raises(SystemExit) as e:
            cli.parse(argv)
        assert e.value.code == 2 and says in capsys.readouterr().err


def test_the_command_is_installed_and_says_what_it_needs():
    exe = Path(sys.executable).parent / "boot-commission"
    assert exe.exists()
    import subprocess
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--virtual" in out.stdout and "--port" in out.stdout
