"""Program files a user writes (issue 18 part 3): `boot-sim check-program` says what the boot
would say of one, in the firmware's own words (the firmware's checker under MicroPython gives
the same text); a program of one's own in programs/ is not the package's (package.json);
tools/flash.sh checks every program it would copy, on the board it flashes."""
import json
import os
import shutil
import subprocess
import sys

from sim import paths
from sim.cli import main as boot_sim

S3 = "esp32-s3-devkitc-6ch"
LONG = {"name": "long", "chambers": [{"mmhg": 80, "hold_s": 30}] * 4, "hold_s": 30,
        "rest_s": 20}


def firmware_says(micropython, f, chambers, max_mmhg=120):
    """What the firmware's own load and whole-wave check say of f, under MicroPython."""
    board = paths.BOARDS / ("esp32-devkitc-4ch.json" if chambers == 4 else S3 + ".json")
    code = ("import json, boardcfg, program, waveplan, settings\n"
            "cfg = boardcfg.load(%r)\n"
            "try:\n"
            "    c = program.load(%r, cfg['chambers'], cfg['limits']['max_target_mmhg'])\n"
            "    v = settings.defaults(cfg)\n    v['mode'] = 'custom'\n"
            "    print(json.dumps(waveplan.check(v, cfg, c, 'program file %s')))\n"
            "except program.ProgramError as e:\n    print(json.dumps(str(e)))\n"
            % (str(board), f, f))
    return micropython(code)


def test_check_program_passes_a_shipped_program_stretched_on_six_chambers(capsys):
    f = str(paths.ROOT / "programs" / "recover.json")
    assert boot_sim(["check-program", f, "--board", S3]) == 0
    out = capsys.readouterr().out
    assert (f"{f}: warning: program recover: lists 4 chambers, the board has 6: stretched "
            "along the leg, chambers 1-6 take its entries 1, 2, 2, 3, 4, 4") in out, out
    assert f"{f}: ok on {S3} (6 chambers" in out and "70, 65, 65, 60, 55, 55 mmHg" in out, out


def test_check_program_refuses_in_the_firmwares_words(tmp_path, capsys, micropython):
    exact = json.loads((paths.ROOT / "programs" / "recover.json").read_text())
    del exact["fit"]
    cases = [("exact.json", exact, 6), ("long.json", LONG, 4)]
    for name, spec, n in cases:
        f = tmp_path / name
        f.write_text(json.dumps(spec))
        board = S3 if n == 6 else "esp32-devkitc-4ch"
        assert boot_sim(["check-program", str(f), "--board", board]) == 2
        err = capsys.readouterr().err
        said = firmware_says(micropython, str(f), n)
        assert said, name                                 # the firmware refuses it too
        assert f"boot-sim: {said}\n" in err, (said, err)
        assert f"refused on {board} ({n} chambers" in err and "plain wave" in err, err
    assert "has 4 entries, the board 6 chambers" in firmware_says(
        micropython, str(tmp_path / "exact.json"), 6)
    assert "would stay at pressure 172.4 s per wave" in firmware_says(
        micropython, str(tmp_path / "long.json"), 4)
    assert boot_sim(["check-program", str(tmp_path / "none.json")]) == 2
    assert "there is no such file" in capsys.readouterr().err


def test_a_program_of_ones_own_leaves_package_json_alone(tmp_path):
    """Adding a program to programs/, as the README says, made the suite fail with
    'package.json is out of date': the package lists the programs git tracks."""
    root = tmp_path / "repo"
    for d in ("firmware", "programs"):
        shutil.copytree(paths.ROOT / d, root / d, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "tools").mkdir()
    shutil.copy(paths.ROOT / "tools" / "package_json.py", root / "tools")
    shutil.copy(paths.ROOT / "pyproject.toml", root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}  # its own repo
    git = ["git", "-C", str(root)]
    subprocess.run(git + ["init", "-q"], check=True, env=env)
    subprocess.run(git + ["add", "firmware", "programs", "tools", "pyproject.toml"], check=True,
                   env=env)
    tool = [sys.executable, str(root / "tools" / "package_json.py")]
    subprocess.run(tool, check=True, env=env)
    assert subprocess.run(tool + ["--check"], env=env).returncode == 0
    shipped = json.loads((root / "package.json").read_text())["urls"]
    (root / "programs" / "calf-focus-6.json").write_text(json.dumps(LONG))
    check = subprocess.run(tool + ["--check"], capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stderr          # the user's own: not the package's
    subprocess.run(git + ["add", "programs/calf-focus-6.json"], check=True, env=env)
    check = subprocess.run(tool + ["--check"], capture_output=True, text=True, env=env)
    assert check.returncode == 1 and "out of date" in check.stderr   # shipped: listed
    subprocess.run(tool, check=True, env=env)
    urls = json.loads((root / "package.json").read_text())["urls"]
    assert [u for u in urls if u not in shipped] == [["programs/calf-focus-6.json",
                                                     "programs/calf-focus-6.json"]]


def test_flash_sh_checks_every_program_on_the_board_it_flashes(tmp_path):
    """A checkout whose programs/ holds a program of the user's that the board would refuse:
    flash.sh says so before it opens the port, as it does for a bad board file."""
    root = tmp_path / "checkout"
    (root / "tools").mkdir(parents=True)
    shutil.copy(paths.ROOT / "tools" / "flash.sh", root / "tools")
    for d in ("firmware", "sim", "boards", ".venv"):
        os.symlink(paths.ROOT / d, root / d)
    (root / "programs").mkdir()
    shutil.copy(paths.ROOT / "programs" / "recover.json", root / "programs")
    port = tmp_path / "ttyUSB9"

    def flash(board):
        return subprocess.run(["bash", str(root / "tools" / "flash.sh"), "--port", str(port),
                               "--board", board, "--dry-run"], capture_output=True, text=True,
                              timeout=300)
    proc = flash(S3)
    assert proc.returncode == 0, proc.stderr
    assert "check-program" in proc.stdout and "recover.json: ok on " + S3 in proc.stdout
    (root / "programs" / "long.json").write_text(json.dumps(LONG))
    proc = flash("esp32-devkitc-4ch")
    assert proc.returncode == 1
    errors = [x for x in proc.stderr.splitlines() if x.startswith("flash: error:")]
    assert errors == [f"flash: error: the program {root}/programs/long.json would be refused "
                      "on this board (see above): fix it, or move it out of programs/"], \
        proc.stderr
    assert "would stay at pressure 172.4 s per wave" in proc.stderr
    assert "[2/6]" not in proc.stdout                   # before the device is asked


def test_check_program_names_a_missing_file_as_missing(capsys):
    assert boot_sim(["check-program", "programs/calf-focus-6.json"]) == 2
    err = capsys.readouterr().err
    assert "there is no such file" in err and "calf-focus.json" in err
    assert "plain wave" not in err
