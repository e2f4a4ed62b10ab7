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


# --- --flash keeps what is on the flash (issue 18 part 5) ----------------------------------
def test_flash_keeps_the_menus_settings_and_the_flashed_board(tmp_path, capsys):
    """--flash DIR wrote board.json and settings.json at every run: the settings saved from
    the boot's menu and a board file flashed there were lost. Only what the command line asks
    for is written now."""
    flash = tmp_path / "flash"
    trace = tmp_path / "t.jsonl"
    leg = "esp32-devkitc-4ch-leg"
    # the menu: a long press opens it, a detent adds 5 minutes, a long press saves
    menu = scenario(tmp_path, "menu", settings={"minutes": 10, "fit_check": False},
                    duration_s=15, actions=[{"t_s": 1, "do": "long_press"},
                                            {"t_s": 5, "do": "turn", "detents": 1},
                                            {"t_s": 10, "do": "long_press"}])
    assert boot_sim(["run", "--flash", str(flash), "--board", leg, "--scenario", menu,
                     "--quiet"]) == 0
    saved = json.loads((flash / "settings.json").read_text())
    assert saved["minutes"] == 15 and saved["fit_check"] is False, saved
    board = (flash / "board.json").read_bytes()
    assert json.loads(board)["name"] == leg
    quick = scenario(tmp_path, "quick", duration_s=2, actions=[])
    capsys.readouterr()
    assert boot_sim(["run", "--flash", str(flash), "--scenario", quick, "--quiet",
                     "--trace", str(trace)]) == 0
    assert "kept on %s: board.json and settings.json, as they are" % flash in \
        capsys.readouterr().err
    assert json.loads((flash / "settings.json").read_text()) == saved
    assert (flash / "board.json").read_bytes() == board
    assert header(trace)["board"]["name"] == leg                 # the flashed board is run
    assert header(trace)["settings"]["minutes"] == 15            # with the menu's settings
    # an option changes its own field only
    assert boot_sim(["run", "--flash", str(flash), "--scenario", quick, "--quiet",
                     "--pressure", "60", "--trace", str(trace)]) == 0
    now = json.loads((flash / "settings.json").read_text())
    assert now == dict(saved, pressure_mmhg=60), now
    assert (header(trace)["settings"]["pressure_mmhg"], header(trace)["board"]["name"]) == \
        (60, leg)
    # a board named on the command line is written, as asked
    assert boot_sim(["run", "--flash", str(flash), "--scenario", quick, "--quiet",
                     "--board", "esp32-devkitc-4ch"]) == 0
    assert json.loads((flash / "board.json").read_text())["name"] == "esp32-devkitc-4ch"
    assert json.loads((flash / "settings.json").read_text()) == now
    capsys.readouterr()


def test_firmware_of_a_flashed_board_runs_with_its_board_file(tmp_path, capsys):
    """--firmware DIR of a flashed virtual board ran the default board, not the flashed one."""
    import shutil
    flashed = tmp_path / "flashed"
    flashed.mkdir()
    for f in paths.FIRMWARE.glob("*.py"):
        shutil.copy(f, flashed)
    shutil.copy(paths.BOARDS / "esp32-devkitc-4ch-2dump.json", flashed / "board.json")
    trace = tmp_path / "t.jsonl"
    quick = scenario(tmp_path, "quick", duration_s=2, actions=[])
    assert boot_sim(["run", "--firmware", str(flashed), "--scenario", quick, "--quiet",
                     "--trace", str(trace)]) == 0
    assert header(trace)["board"]["name"] == "esp32-devkitc-4ch-2dump"
    assert boot_sim(["run", "--firmware", str(flashed), "--scenario", quick, "--quiet",
                     "--board", "esp32-devkitc-4ch", "--trace", str(trace)]) == 0
    assert header(trace)["board"]["name"] == "esp32-devkitc-4ch"
    capsys.readouterr()


def test_a_flash_directory_given_relative_to_the_current_one(tmp_path, monkeypatch, capsys):
    """`boot-sim run --flash flash`: the device process runs in the directory, and looked for
    its run config there relative to itself (ENOENT, 'the device process failed'); so with
    `--firmware fw` for its modules ("no module named 'flashfs'")."""
    monkeypatch.chdir(tmp_path)
    quick = scenario(tmp_path, duration_s=2, actions=[])
    assert boot_sim(["run", "--flash", "flash", "--scenario", quick, "--quiet"]) == 0
    assert (tmp_path / "flash" / "board.json").exists()
    assert boot_sim(["run", "--flash", "flash", "--scenario", quick, "--quiet"]) == 0
    assert "kept on flash: board.json and settings.json, as they are" in capsys.readouterr().err
    import shutil
    shutil.copytree(paths.FIRMWARE, tmp_path / "fw",
                    ignore=shutil.ignore_patterns("__pycache__"))
    assert boot_sim(["run", "--firmware", "fw", "--scenario", quick, "--quiet"]) == 0
