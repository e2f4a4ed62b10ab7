"""The chip's ADC (issue 12): the virtual board reads the transducer the way MicroPython's
`ADC.read_uv()` does on the board file's chip (sim/device/adcmodel.py: the classic ESP32's
142 mV floor and its flattening above 2.45 V; the S3's curve), and the firmware and the board
checks survive it: an open wire is SENSOR_RANGE within 100 ms on every shipped board, and a
board whose zero sits too close to the floor is refused, naming the margin in volts."""
import json
from pathlib import Path

import pytest

from dual import both
from sim import paths
from sim.cli import main as boot_sim
from sim.scenario import load
from sim.session import build_config, run

BOARDS = sorted((Path(__file__).resolve().parent.parent / "boards").glob("*.json"))
OPEN = Path(__file__).parent / "scenarios" / "sensor_open.json"

FIGURES = r'''
import json
from adcmodel import Adc
out = {}
for mcu in ("esp32", "esp32s3"):
    a = Adc(mcu)
    out[mcu] = [a.read_uv(v) for v in (-0.05, 0.0, 0.1, 0.142, 0.25, 1.25, 2.25, 2.45, 2.6,
                                        2.8, 2.9, 3.0, 3.3, 5.0)]
out["floor107"] = Adc("esp32", 0.107).read_uv(0.0)
print(json.dumps(out))
'''


def test_transfer_function_figures_in_both_runtimes(micropython):
    got = both(micropython, FIGURES)
    e = dict(zip((-0.05, 0.0, 0.1, 0.142, 0.25, 1.25, 2.25, 2.45, 2.6, 2.8, 2.9, 3.0, 3.3, 5.0),
                 got["esp32"]))
    # classic ESP32, ADC1 at 11 dB, line fitting: a pin at 0 V (and up to the floor) reads 142 mV
    assert e[-0.05] == e[0.0] == e[0.1] == e[0.142] == 142000
    assert got["floor107"] == 107000
    # between the floor and the knee it follows the pin, in whole millivolts
    assert (e[0.25], e[1.25], e[2.25], e[2.45]) == (250000, 1250000, 2250000, 2450000)
    # above 2.45 V it flattens: each step up reads less than the last, never above 3.1 V
    slope = [(e[b] - e[a]) / (b - a) / 1e6 for a, b in ((2.45, 2.6), (2.6, 2.8), (2.8, 3.0))]
    assert 0.85 < slope[0] < 0.95 and slope[1] < slope[0] - 0.1 and slope[2] < slope[1] - 0.1
    assert 2900000 < e[3.3] < 2950000 < e[5.0] <= 3100000
    s = dict(zip((-0.05, 0.0, 0.1, 0.142, 0.25, 1.25, 2.25, 2.45, 2.6, 2.8, 2.9, 3.0, 3.3, 5.0),
                 got["esp32s3"]))
    # S3, 12 dB, curve fitting: 0 V reads 0, linear to 2.9 V, then flattens toward 3.1 V
    assert s[-0.05] == s[0.0] == 0 and s[0.1] == 100000
    assert (s[2.45], s[2.9]) == (2450000, 2900000)
    assert s[3.0] - s[2.9] < 100000 and 3050000 < s[3.3] < s[5.0] <= 3100000


def _open_wire(board, tmp_path, plant=None, runtime="micropython"):
    scenario = load(OPEN)
    scenario["board"] = str(board)
    if plant:
        scenario["plant"] = plant
    trace = tmp_path / "open.jsonl"
    summary, _ = run(build_config(scenario), runtime, str(trace), quiet=True)
    records = [json.loads(x) for x in trace.read_text().splitlines()]
    t_inj = min(r["t_ms"] for r in records
                if r["kind"] == "event" and r["event"] == "fault_injected")
    faults = [r for r in records if r["kind"] == "event" and r["event"] == "fault"
              and r.get("source") != "sim" and r["t_ms"] >= t_inj]
    return faults, t_inj, summary


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.stem)
def test_open_wire_is_sensor_range_within_100_ms_on_every_shipped_board(board, tmp_path):
    faults, t_inj, _ = _open_wire(board, tmp_path)
    assert faults, "the open wire was never detected"
    assert faults[0]["code"] == "SENSOR_RANGE", [f["code"] for f in faults]
    assert faults[0]["t_ms"] - t_inj <= 100


def test_open_wire_under_the_cpython_runtime_too(tmp_path):
    # the ADC model is the plant's, so it is on in both runtimes
    faults, t_inj, _ = _open_wire(paths.DEFAULT_BOARD, tmp_path, runtime="cpython")
    assert faults and faults[0]["code"] == "SENSOR_RANGE"
    assert faults[0]["t_ms"] - t_inj <= 100


def test_open_wire_on_a_chip_with_a_lower_floor(tmp_path):
    # eFuse calibrations differ: 107 mV is the lowest floor reported; the window still sees it
    faults, t_inj, _ = _open_wire(paths.DEFAULT_BOARD, tmp_path, {"adc_floor_mv": 107})
    assert faults and faults[0]["code"] == "SENSOR_RANGE"
    assert faults[0]["t_ms"] - t_inj <= 100


class _Result:
    def __init__(self, returncode, out):
        self.returncode, self.stdout, self.stderr = returncode, out.out, out.err


def _check_board(tmp_path, capsys, sensor=None, **fields):
    data = json.loads(paths.DEFAULT_BOARD.read_text())
    data["sensor"].update(fields)
    data["sensor"].update(sensor or {})
    f = tmp_path / "board.json"
    f.write_text(json.dumps(data))
    capsys.readouterr()
    rc = boot_sim(["check-board", str(f)])
    return _Result(rc, capsys.readouterr())


def test_check_board_refuses_a_zero_too_close_to_the_floor(tmp_path, capsys):
    # an MPX5050-style part (0.2 V at 0 mmHg) behind the 1:2 divider: 0.1 V on the pin, under
    # the classic ESP32's 0.142 V floor. An open wire and 0 mmHg would read alike.
    p = _check_board(tmp_path, capsys, v_at_zero=0.2, v_at_full_scale=4.7)
    assert p.returncode != 0
    assert "sensor.v_at_zero" in p.stderr and "0.100 V on the ADC" in p.stderr
    assert "0.042 V below" in p.stderr and "floor (0.142 V" in p.stderr
    assert "transducer whose 0 mmHg output is higher" in p.stderr   # no ratio can fix it
    # 0.45 V behind 1:2: 0.225 V, 0.083 V over the floor, 0.1 V needed: a larger ratio fixes it
    p = _check_board(tmp_path, capsys, v_at_zero=0.45)
    assert p.returncode != 0
    assert "0.083 V above" in p.stderr and "must be at least 0.100 V" in p.stderr
    assert "sensor.divider_ratio" in p.stderr and "at least 0.54" in p.stderr
    # 0.48 V: 0.5 x 0.48 = 0.240 V; 0.242 / 0.48 = 0.504, so the ratio named is 0.51 (rounded
    # up: 0.50 would be refused again)
    p = _check_board(tmp_path, capsys, v_at_zero=0.48)
    assert "at least 0.51" in p.stderr
    # the shipped transducer: accepted, and the margin is named
    p = _check_board(tmp_path, capsys)
    assert p.returncode == 0, p.stderr
    assert "0.250 V on the ADC, 0.108 V above the esp32's ADC floor" in p.stdout


def test_check_board_refuses_a_ceiling_where_the_reading_flattens(tmp_path, capsys):
    # a 0.5-2.9 V part straight into the pin: 150 mmHg of a 0-170 mmHg span is 2.62 V
    p = _check_board(tmp_path, capsys, {"v_at_zero": 0.5, "v_at_full_scale": 2.9,
                                        "full_scale_mmhg": 170, "divider_ratio": 1.0})
    assert p.returncode != 0
    assert "limits.ceiling_mmhg" in p.stderr
    assert "2.45 V where the esp32's ADC reading flattens" in p.stderr


def test_bench_prints_the_adc_figures():
    from sim import bench
    board = json.loads(paths.DEFAULT_BOARD.read_text())
    rows = {r[0]: r for r in bench._adc_rows(board)}
    assert rows["8 ADC esp32: open wire (0 V) reads"][1:4] == \
        ("142 mV = -16.2 mmHg", "< 167 mV", True)
    assert rows["8 ADC esp32: 0 mmHg reads"][1].startswith("250 mV, 0.108 V over the floor")
    assert rows["8 ADC esp32: flattening error at 150 mmHg (ceiling)"][1:4] == \
        ("+0.00 mmHg", "0", True)
    # a board with its ceiling above the knee (boardcfg refuses it) shows what it would cost
    board["sensor"].update(v_at_zero=0.5, v_at_full_scale=2.9, full_scale_mmhg=170,
                           divider_ratio=1.0)
    rows = {r[0]: r for r in bench._adc_rows(board)}
    err = rows["8 ADC esp32: flattening error at 150 mmHg (ceiling)"]
    assert err[3] is False and float(err[1].split()[0]) < -1.0
