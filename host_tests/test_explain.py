"""The simulator explains itself (issue 18, part 6): `boot-sim scenarios` and `--scenario NAME`,
`boot-sim faults`, `boot-sim plot TRACE --from --to`, `--screen FILE.gif` (every frame),
`--runtime cpython --screen` refused, the live line drops a fault once it is acknowledged, and
`check-board` lists every error of a file in one run. The firmware runs under MicroPython."""
import io
import json

from PIL import Image

from sim import library, paths
from sim.cli import main as boot_sim
from sim.scenario import FAULTS
from sim.session import build_config, run


def _scenario(tmp_path, name="s", **keys):
    f = tmp_path / f"{name}.json"
    f.write_text(json.dumps(keys))
    return str(f)


def test_scenarios_lists_every_library_file_with_its_description(capsys):
    assert boot_sim(["scenarios"]) == 0
    out = capsys.readouterr().out
    files = sorted(library.LIBRARY.glob("*.json"))
    assert len(files) > 10 and f"{len(files)} scenarios" in out
    for f in files:
        assert f"\n{f.stem}\n" in out, f.stem
        words = json.loads(f.read_text())["description"].split()[:4]
        assert " ".join(words) in " ".join(out.split()), f.stem


def test_a_library_scenario_runs_by_name(tmp_path, capsys):
    trace = tmp_path / "t.jsonl"
    assert boot_sim(["run", "--scenario", "transducer_zero_wrong", "--quiet",
                     "--trace", str(trace)]) == 0
    head = json.loads(trace.read_text().splitlines()[0])
    wanted = json.loads((library.LIBRARY / "transducer_zero_wrong.json").read_text())
    assert head["duration_ms"] == wanted["duration_s"] * 1000
    assert "ZERO_OFFSET" in capsys.readouterr().out


def test_an_unknown_scenario_name_is_refused_with_the_nearest_names(capsys):
    assert boot_sim(["run", "--scenario", "leak_smal", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no scenario of that name" in err and "did you mean leak_small" in err
    assert "boot-sim scenarios" in err


def test_faults_lists_every_kind_with_its_fields(capsys):
    assert boot_sim(["faults"]) == 0
    out = capsys.readouterr().out
    assert set(library.FAULT_HELP) == set(FAULTS)
    rows = {line.split()[0]: line for line in out.splitlines()
            if line and not line.startswith(" ") and line.split()[0] in FAULTS}
    assert set(rows) == set(FAULTS)
    assert "chamber, ml_per_min [until_s]" in rows["leak"]
    assert "[dump, until_s]" in rows["dump_stuck_closed"]
    assert "until_s" not in rows["brownout"]           # happens once: cannot end
    assert "ms" in rows["loop_stall"].split()[-1]


def test_plot_draws_a_zoom_from_a_saved_trace(tmp_path, capsys):
    trace = tmp_path / "session.jsonl"
    run(build_config({"settings": {"minutes": 2}, "duration_s": 60,
                      "actions": [{"t_s": 0, "do": "start"},
                                  {"t_s": 40, "do": "turn", "detents": -2}]}),
        "micropython", str(trace), quiet=True)
    assert boot_sim(["plot", str(trace), "--from", "30", "--to", "50"]) == 0
    out = tmp_path / "session-30s-50s.png"
    assert f"plot: {out}" in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.size[0] > 1000
    from sim.plot import plot
    marks = plot(str(trace), str(tmp_path / "z.png"), t_from_s=30, t_to_s=50)
    assert 30 <= marks["window_s"][0] < 30.1 and 49.9 < marks["window_s"][1] <= 50
    assert marks["actions"] == ["turn -2"]             # the start at 0 s is outside
    assert boot_sim(["plot", str(trace), "--from", "50", "--to", "30"]) == 2
    assert boot_sim(["plot", str(trace), "--from", "500", "--out",
                     str(tmp_path / "x.png")]) == 2
    assert "no samples from 500 s to the end" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_a_misspelt_fault_kind_names_the_file_and_the_nearest_kind(tmp_path, capsys):
    f = tmp_path / "typo.json"
    f.write_text(json.dumps({"faults": [{"t_s": 3, "fault": "pump_stuck_onn"}],
                             "duration_s": 10}))
    assert boot_sim(["run", "--scenario", str(f), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"scenario {f}: faults[0].fault: 'pump_stuck_onn' is not a fault kind (did you " \
           f"mean pump_stuck_on" in err and "boot-sim faults lists them" in err


def test_screen_gif_has_every_frame(tmp_path, capsys):
    quick = _scenario(tmp_path, settings={"minutes": 5}, duration_s=25)
    gif = tmp_path / "screen.gif"
    assert boot_sim(["run", "--board", "esp32-s3-devkitc-6ch", "--scenario", quick,
                     "--quiet", "--screen", str(gif)]) == 0
    assert f"screen: {gif}" in capsys.readouterr().out
    with Image.open(gif) as im:
        assert im.n_frames >= 10                       # merged where nothing changed
        pictures = set()
        for i in range(im.n_frames):
            im.seek(i)
            pictures.add(im.convert("1").tobytes())
    assert len(pictures) >= 5                          # the clock and the bars move


def test_cpython_screen_is_refused_instead_of_a_blank_png(tmp_path, capsys):
    png = tmp_path / "screen.png"
    assert boot_sim(["run", "--runtime", "cpython", "--minutes", "5", "--quiet",
                     "--screen", str(png)]) == 2
    assert "cannot be drawn under --runtime cpython" in capsys.readouterr().err
    assert not png.exists()


def test_the_live_line_drops_a_fault_once_it_is_acknowledged():
    config = build_config({"settings": {"minutes": 2, "fit_check": False},
                           "faults": [{"t_s": 7, "fault": "pump_dead", "until_s": 10}],
                           "actions": [{"t_s": 0, "do": "start"},
                                       {"t_s": 20, "do": "long_press"}],
                           "duration_s": 60})
    stream = io.StringIO()
    _, follower = run(config, "micropython", progress_stream=stream)
    assert [name for _, name, _ in follower.events if name in ("fault", "clear")][-1] == "clear"
    lines = stream.getvalue().splitlines()
    shown = [("FAULT" in x, x.split("]")[0]) for x in lines]
    assert any(f for f, _ in shown), lines             # shown while latched ...
    assert not shown[-1][0], lines                     # ... and gone after the acknowledgement
    assert follower.latched is None


def test_check_board_lists_every_error_in_one_run(tmp_path, capsys):
    board = json.loads((paths.ROOT / "boards" / "esp32-devkitc-4ch.json").read_text())
    board["colour"] = "red"
    board["outputs"]["pump_pin"] = 99
    board["outputs"]["valve_pins"][2] = 6          # the flash's pin: a pin rule
    board["sensor"]["adc_pin"] = 25
    board["limits"]["max_target_mmhg"] = 149
    board["inputs"]["button_pin"] = board["outputs"]["dump_pin"]
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(board))
    assert boot_sim(["check-board", str(f)]) == 2
    err = capsys.readouterr().err
    for field in ("'colour': unknown field", "'outputs.pump_pin': must be a GPIO",
                  "'sensor.adc_pin': must be an ADC1 pin", "'inputs.button_pin': GPIO26 is "
                  "already used", "'limits.max_target_mmhg'",
                  "error: outputs.valve_pins[2] is GPIO6"):
        assert field in err, field
    assert len(err.strip().splitlines()) == 6          # nothing about the stand-ins
    # a duplicate in one element of a list and the flash's pin in another: both told
    board = json.loads((paths.ROOT / "boards" / "esp32-devkitc-4ch.json").read_text())
    board["outputs"]["valve_pins"] = [27, 18, 18, 6]
    f.write_text(json.dumps(board))
    assert boot_sim(["check-board", str(f)]) == 2
    err = capsys.readouterr().err
    assert "'outputs.valve_pins[2]': GPIO18 is already used" in err
    assert "error: outputs.valve_pins[3] is GPIO6" in err
    assert len(err.strip().splitlines()) == 2
    # one error only: the same one line as the firmware's own checker gives
    good = json.loads((paths.ROOT / "boards" / "esp32-devkitc-4ch.json").read_text())
    good["chambers"] = 0
    f.write_text(json.dumps(good))
    assert boot_sim(["check-board", str(f)]) == 2
    err = capsys.readouterr().err
    assert "field 'chambers'" in err and "the check stops here" in err
