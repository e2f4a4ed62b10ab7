"""`boot-sim run` and the device's flash, as a new user meets them (issue 13): a settings file
of one's own tried as the boot reads it (--settings-file), an edited copy of a shipped program
kept in a --flash directory, and a run that ends mid-session saying what the next one will say.
The firmware runs under MicroPython."""
import json

from sim import paths
from sim.cli import main as boot_sim


def scenario(tmp_path, name="s", **keys):
    f = tmp_path / f"{name}.json"
    f.write_text(json.dumps(keys))
    return str(f)


def header(trace):
    return json.loads(trace.read_text().splitlines()[0])


def test_a_settings_file_goes_on_the_flash_as_it_is_and_the_boot_judges_it(tmp_path, capsys):
    bad = tmp_path / "settings.json"
    bad.write_text('{"pressure_mmhg": 70, "minutes": 15, "mode": "static"}')
    trace = tmp_path / "t.jsonl"
    quick = scenario(tmp_path, duration_s=3, actions=[])
    assert boot_sim(["run", "--settings-file", str(bad), "--scenario", quick, "--quiet",
                     "--trace", str(trace)]) == 0
    out = capsys.readouterr().out
    assert ("warning at 0.0 s: settings.json: field 'mode': must be one of wave, gradient, "
            "boost, pulse, warmup, custom, got 'static': starting at 70 mmHg for 15 min; the "
            "fields that check out are kept") in out, out
    # the run is told what the boot starts with (the summary's target, the run's length)
    assert (header(trace)["settings"]["pressure_mmhg"], header(trace)["settings"]["minutes"]) \
        == (70, 15)
    # a file that is not JSON at all: the boot's cautious start
    bad.write_bytes(b'{"pressure_mmhg": 9')
    assert boot_sim(["run", "--settings-file", str(bad), "--scenario", quick, "--quiet",
                     "--trace", str(trace)]) == 0
    out = capsys.readouterr().out
    assert "settings.json is not valid JSON" in out and "starting at 20 mmHg" in out, out
    assert header(trace)["settings"]["pressure_mmhg"] == 20


def test_a_settings_file_with_settings_from_elsewhere_is_refused(tmp_path, capsys):
    f = tmp_path / "settings.json"
    f.write_text("{}")
    assert boot_sim(["run", "--settings-file", str(f), "--pressure", "60", "--quiet"]) == 2
    assert "leave out --pressure, --minutes and the scenario's settings" in \
        capsys.readouterr().err
    assert boot_sim(["run", "--settings-file", str(tmp_path / "none.json"), "--quiet"]) == 2
    assert "cannot be read" in capsys.readouterr().err


def test_an_edited_copy_of_a_shipped_program_stays_on_the_flash(tmp_path, capsys):
    flash = tmp_path / "flash"
    (flash / "programs").mkdir(parents=True)
    mine = json.loads((paths.ROOT / "programs" / "calf-focus.json").read_text())
    mine["hold_s"] = 7
    edited = json.dumps(mine)
    (flash / "programs" / "calf-focus.json").write_text(edited)
    quick = scenario(tmp_path, duration_s=2, actions=[])
    for _ in range(2):
        assert boot_sim(["run", "--flash", str(flash), "--scenario", quick, "--quiet"]) == 0
        assert (flash / "programs" / "calf-focus.json").read_text() == edited
    # the shipped programs the directory lacks are put there
    for p in (paths.ROOT / "programs").glob("*.json"):
        if p.name != "calf-focus.json":
            assert (flash / "programs" / p.name).read_bytes() == p.read_bytes()
    capsys.readouterr()


def test_a_run_that_ends_mid_session_says_the_next_one_will_find_it_cut_short(tmp_path,
                                                                              capsys):
    flash = str(tmp_path / "flash")
    quick = scenario(tmp_path, "quick", duration_s=2, actions=[])
    cut = scenario(tmp_path, "cut", settings={"minutes": 5, "fit_check": False}, duration_s=30)
    assert boot_sim(["run", "--flash", flash, "--scenario", cut, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "end: running" in out
    assert (f"note: the run ended while a session ran, as if the boot were switched off: the "
            f"next run with --flash {flash} warns that the last session was cut short") in out
    assert boot_sim(["run", "--flash", flash, "--scenario", quick, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "the last session was cut short by a reset or power loss" in out and "note:" not in out
    # a session stopped a few seconds before the run ends is a boot switched off after it
    stopped = scenario(tmp_path, "stopped", settings={"minutes": 5, "fit_check": False},
                       actions=[{"t_s": 0, "do": "start"}, {"t_s": 20, "do": "stop"}],
                       duration_s=30)
    assert boot_sim(["run", "--flash", flash, "--scenario", stopped, "--quiet"]) == 0
    assert "note:" not in capsys.readouterr().out
    assert boot_sim(["run", "--flash", flash, "--scenario", quick, "--quiet"]) == 0
    assert "cut short" not in capsys.readouterr().out
