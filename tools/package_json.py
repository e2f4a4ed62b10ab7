#!/usr/bin/env python3
"""Write package.json, the file `mpremote mip install github:OWNER/REPO` reads: every
firmware/*.py to the device's root, every shipped program (programs/*.json that git tracks) to
programs/, and umqtt.simple as a dependency (micropython-lib's package.json convention: urls as
[destination, source] pairs, deps as [name, version] pairs, a version). A program of your own
in programs/ that git does not track is yours, not the package's: it leaves package.json as it
is (tools/flash.sh and boot-sim run --flash still put it on the boot).

    .venv/bin/python tools/package_json.py          # rewrite it
    .venv/bin/python tools/package_json.py --check  # exit 1 if it is out of date
"""
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shipped_programs():
    """The programs the repository ships: those git tracks in programs/ (outside a git
    checkout, every programs/*.json)."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--", "programs/*.json"],
                             capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return sorted(f.name for f in (ROOT / "programs").glob("*.json"))
    return sorted(Path(f).name for f in out if "/" not in f[len("programs/"):])


def expected():
    urls = [[f.name, f"firmware/{f.name}"] for f in sorted((ROOT / "firmware").glob("*.py"))]
    urls += [[f"programs/{name}", f"programs/{name}"] for name in shipped_programs()]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    text = json.dumps({"urls": urls, "deps": [["umqtt.simple", "latest"]], "version": version},
                      indent=2)
    # one [destination, source] pair a line
    return re.sub(r'\[\n\s+("[^"]*"),\n\s+("[^"]*")\n\s+\]', r"[\1, \2]", text) + "\n"


def main(argv):
    path = ROOT / "package.json"
    want = expected()
    if "--check" in argv:
        if not path.exists() or path.read_text() != want:
            print("package.json is out of date: run .venv/bin/python tools/package_json.py",
                  file=sys.stderr)
            return 1
        return 0
    path.write_text(want)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
