"""Real parts for the MQTT tests: a mosquitto broker on loopback (its own config, a free port),
mosquitto_sub/mosquitto_pub as the user's side, a tarpit broker that accepts and never answers,
and the simulated device: the firmware's main.py under MicroPython on a virtual board
(sim/device/run.py), with umqtt.simple the image's or else PyPI's (device_path), running in the
background so a test can talk to it while it runs and kill it like a power cut."""
import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sim import paths
from sim.session import Follower, Progress, build_config, micropython_binary

SBIN = ("/usr/sbin", "/usr/local/sbin")


def which(name):
    found = shutil.which(name)
    if found:
        return found
    for d in SBIN:
        p = Path(d) / name
        if p.exists():
            return str(p)
    return None


def missing_tools():
    """Why the broker tests cannot run here, or None."""
    lacking = [n for n in ("mosquitto", "mosquitto_sub", "mosquitto_pub") if not which(n)]
    if lacking:
        return ("%s not installed: tools/setup.sh installs the Debian packages mosquitto and "
                "mosquitto-clients when run as root with apt-get" % ", ".join(lacking))
    return None


def umqtt_path():
    """The directory holding umqtt/simple.py (fetched from PyPI by tools/get_umqtt.py)."""
    sys.path.insert(0, str(paths.ROOT / "tools"))
    try:
        import get_umqtt
    finally:
        sys.path.pop(0)
    return get_umqtt.fetch().parent.parent


def device_path(pre_path=()):
    """The device process's MICROPYPATH, in the chip's order: the firmware, then the image's
    frozen modules, then the library folder (/lib on the chip). So umqtt.simple is the image's
    where the runtime freezes it (the 32-bit build and the stock ESP32 image: micropython-lib's
    current one) and the PyPI copy on the wheel's 64-bit MicroPython, which has none."""
    return os.pathsep.join([str(paths.MPSHIM), *map(str, pre_path), str(paths.FIRMWARE),
                            str(paths.DEVICE), ".frozen", str(umqtt_path())])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout_s, what="condition"):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


class Broker:
    """mosquitto on 127.0.0.1, a free port, no persistence; optional users and TLS, and extra
    lines of mosquitto.conf (e.g. "max_packet_size 300")."""

    def __init__(self, tmp, users=None, tls=None, extra=()):
        self.port = free_port()
        self.dir = Path(tmp)
        # as root, mosquitto would switch to its own user and lose access to the test's files
        lines = [f"user {getpass.getuser()}", f"listener {self.port} 127.0.0.1",
                 "persistence false",
                 "log_dest stderr", "log_type error", "log_type warning"]
        if users:
            pwfile = self.dir / "passwd"
            pwfile.write_text("")
            for user, pw in users.items():
                subprocess.run([which("mosquitto_passwd"), "-b", str(pwfile), user, pw],
                               check=True, capture_output=True)
            os.chmod(pwfile, 0o600)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        if tls:
            lines += [f"cafile {tls['ca']}", f"certfile {tls['cert']}",
                      f"keyfile {tls['key']}"]
        lines += list(extra)
        conf = self.dir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([which("mosquitto"), "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(self._listening, 10, "mosquitto to listen")

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError("mosquitto exited: " + self.proc.stderr.read().decode())
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Client:
    """The user's side: mosquitto_sub on every topic, and mosquitto_pub."""

    def __init__(self, broker, topics=("#",), auth=(), host="127.0.0.1"):
        self.broker = broker
        self.host = host
        self.auth = list(auth)
        self.messages = []          # (wall time, topic, payload bytes, retained)
        self.lock = threading.Lock()
        args = [which("mosquitto_sub"), "-h", host, "-p", str(broker.port), "-F",
                "%r %t %x"] + self.auth
        for t in topics:
            args += ["-t", t]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(0.3)             # subscribed before the test goes on

    def _read(self):
        for line in self.proc.stdout:
            parts = line.rstrip("\n").split(" ")
            if len(parts) < 2:
                continue
            payload = bytes.fromhex(parts[2]) if len(parts) > 2 else b""
            with self.lock:
                self.messages.append((time.monotonic(), parts[1], payload, parts[0] == "1"))

    def on(self, topic):
        with self.lock:
            return [m for m in self.messages if m[1] == topic]

    def json_on(self, topic):
        return [json.loads(m[2]) for m in self.on(topic) if m[2]]

    def events(self, base, *names):
        """Records on <base>/event, optionally only those named."""
        return [e for e in self.json_on(base + "/event") if not names or e["event"] in names]

    def pub(self, topic, payload, retain=False):
        args = [which("mosquitto_pub"), "-h", self.host, "-p", str(self.broker.port),
                "-t", topic] + self.auth
        if retain:
            args.append("-r")
        if payload == b"":
            args.append("-n")
            subprocess.run(args, check=True, timeout=10)
        else:
            subprocess.run(args + ["-s"], input=payload, check=True, timeout=10)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


def make_certs(tmp):
    """A CA and a server certificate for "localhost" (openssl)."""
    d = Path(tmp)

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=boot test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return {"ca": str(d / "ca.pem"), "cert": str(d / "server.pem"), "key": str(d / "server.key")}


class Tarpit:
    """A 'broker' that accepts every connection and then never reads or answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)
            except OSError:
                pass

    def stop(self):
        self._stop = True
        for c in self.accepted:
            c.close()
        self.sock.close()


class HalfOpenBroker(Tarpit):
    """Answers the CONNECT with a CONNACK, then reads everything and never answers again (a
    broker that hung, or a connection that died half-way)."""

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.recv(4096)                         # the CONNECT (and maybe more)
            conn.sendall(b"\x20\x02\x00\x00")        # accepted
            while conn.recv(4096):                  # then silence
                pass
        except OSError:
            pass


class Device:
    """The firmware's main.py under MicroPython on the virtual board, in the background."""

    def __init__(self, tmp, secrets, seconds, scenario=None, pace=1.0, network=None,
                 extra_files=None, pre_path=()):
        scenario = dict(scenario or {"actions": []})
        scenario.setdefault("duration_s", seconds)
        self.config = build_config(scenario)
        self.config["tick_gap"] = True
        if pace:
            self.config["pace"] = pace
        if network is not None:
            self.config["network"] = network
        self.flash = Path(tempfile.mkdtemp(prefix="flash-", dir=tmp))
        shutil.copyfile(self.config["board_file"], self.flash / "board.json")
        (self.flash / "settings.json").write_text(json.dumps(self.config["settings"]))
        if secrets is not None:
            (self.flash / "secrets.json").write_text(json.dumps(secrets))
        for name, data in (extra_files or {}).items():
            (self.flash / name).parent.mkdir(parents=True, exist_ok=True)
            (self.flash / name).write_bytes(data)
        cfg_path = Path(tmp) / f"run-{self.flash.name}.json"
        cfg_path.write_text(json.dumps(self.config))
        env = dict(os.environ)
        env["MICROPYPATH"] = device_path(pre_path)
        self.follower = Follower(self.config, None, Progress(sys.stderr, 1, quiet=True))
        self.lines = []
        self.sim = []               # @sim records (reset, tick_gap, ...)
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [micropython_binary(), "-X", "heapsize=4M", str(paths.DEVICE / "run.py"),
             str(cfg_path)], cwd=self.flash, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            with self.lock:
                if line.startswith("@sim "):
                    self.sim.append(json.loads(line[5:]))
                if not line.startswith("S "):
                    self.lines.append(line)
                self.follower.line(line)

    def events(self, name=None):
        with self.lock:
            return [(t, n, dict(r)) for t, n, r in self.follower.events
                    if name is None or n == name]

    def sims(self, kind):
        with self.lock:
            return [dict(r) for r in self.sim if r.get("sim") == kind]

    def max_tick_gap_ms(self):
        gaps = self.sims("tick_gap")
        return max((g["gap_ms"] for g in gaps), default=0)

    def wait(self, timeout_s=60):
        """Wait for the run to end; return stderr. Raises if the process failed."""
        rc = self.proc.wait(timeout_s)
        err = self.proc.stderr.read()
        if rc != 0:
            raise AssertionError(f"device process failed ({rc}):\n{err}")
        return err

    def kill(self):
        self.proc.kill()
        self.proc.wait(5)

    def running(self):
        return self.proc.poll() is None
