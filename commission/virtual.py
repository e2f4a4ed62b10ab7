"""boot-commission --virtual SCENARIO: the same steps against the virtual ESP32 (tools/vesp32.py)
with the scenario's plant and faults, and a bench: a reference gauge on the manifold (the true
pressure plus the answers file's gauge_error_mmhg) and its hand bulb.

The person is the answers file (a JSON object; keys are the questions' keys: click_K, pump,
order_K, gauge_P), or --yes for every click; the chamber that is firm and the gauge's reading
are found on the bench, as a person would find them, unless the answers file says otherwise.
"""
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sim import paths

VESP32 = paths.ROOT / "tools" / "vesp32.py"
SPEED = 4.0         # simulated seconds a wall second: the boot leaves maintenance after 5 s
                    # without a request (limits.MAINT_IDLE_MS): 1.25 s of the computer's time


class AnswerError(Exception):
    pass


class Bench:
    def __init__(self, folder):
        self.folder = Path(folder)
        self._seq = 0

    def true(self):
        """(manifold mmHg, the boot's ms, [chamber mmHg])."""
        for _ in range(50):
            words = (self.folder / "gauge").read_text().split()
            if len(words) >= 2:
                return float(words[0]), int(words[1]), [float(w) for w in words[2:]]
            time.sleep(0.02)
        raise AnswerError("the virtual bench's gauge says nothing: is the virtual ESP32 running?")

    def bulb(self, mmhg):
        self._seq += 1
        (self.folder / "bulb").write_text(f"{self._seq} {mmhg}\n")
        _, ms, _ = self.true()
        while self.true()[1] < ms + 300:        # the bulb's air in (the bench looks every 0.1 s)
            time.sleep(0.01)


class VirtualAsker:
    def __init__(self, answers, yes, bench, say=print):
        self.answers = answers
        self.yes = yes
        self.bench = bench
        self.say = say
        self.gauge_error = float(answers.get("gauge_error_mmhg", 0.0))

    def _given(self, key, question):
        if key in self.answers:
            self.say(f"  {question} {self.answers[key]} (answers file)")
            return self.answers[key]
        return None

    def confirm(self, key, question):
        given = self._given(key, question)
        if given is not None:
            return bool(given)
        if not self.yes:
            raise AnswerError(f"no answer for {key!r} ({question}): put it in the answers file "
                              "or give --yes")
        self.say(f"  {question} yes (--yes)")
        return True

    def number(self, key, question):
        given = self._given(key, question)
        if given is not None:
            return float(given)
        value = round(self.bench.true()[0] + self.gauge_error, 1)
        self.say(f"  {question} {value} (the bench's gauge)")
        return value

    def chamber(self, key, question, expected):
        given = self._given(key, question)
        if given is not None:
            return int(given)
        chambers = self.bench.true()[2]
        firm = max(range(len(chambers)), key=lambda i: chambers[i]) + 1
        self.say(f"  {question} {firm} (the bench: the firmest chamber)")
        return firm

    def bulb(self, mmhg):
        self.bench.bulb(mmhg)


class VirtualBoard:
    """tools/vesp32.py with the scenario, as a child process; .port, .bench."""

    def __init__(self, scenario_path, flash=None, speed=SPEED, log=None):
        scenario = json.loads(Path(scenario_path).read_text())
        self.work = Path(tempfile.mkdtemp(prefix="commission-"))
        self.flash = Path(flash) if flash else self.work / "flash"
        if not flash:
            self.flash.mkdir()
            for p in paths.FIRMWARE.glob("*.py"):       # the firmware as source: it runs so too
                shutil.copyfile(p, self.flash / p.name)
        board = scenario.get("board")
        if board:
            src = Path(board) if Path(board).is_absolute() else \
                (Path(scenario_path).parent / board)
            if not src.exists():
                src = paths.ROOT / board
            shutil.copyfile(src, self.flash / "board.json")
        elif not (self.flash / "board.json").exists():
            shutil.copyfile(paths.DEFAULT_BOARD, self.flash / "board.json")
        self.bench_dir = self.work / "bench"
        self.bench_dir.mkdir()
        port_file = self.work / "port"
        cmd = [sys.executable, str(VESP32), "--flash", str(self.flash), "--port-file",
               str(port_file), "--boot-seconds", "0", "--press-at", "-1", "--speed", str(speed),
               "--scenario", str(Path(scenario_path).resolve()),
               "--bench-dir", str(self.bench_dir)] + (["--log", str(log)] if log else [])
        # its own session: a Ctrl-C at the terminal stops boot-commission, which then leaves
        # maintenance over the link; the board must still be there to hear it
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the virtual ESP32 did not start: " +
                                   self.proc.stderr.read().decode()[-2000:])
            time.sleep(0.05)
        self.port = port_file.read_text().strip()
        self.bench = Bench(self.bench_dir)
        self.board_file = self.flash / "board.json"

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.work, ignore_errors=True)
