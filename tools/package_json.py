#!/usr/bin/env python3
"""Write package.json, the file `mpremote mip install github:OWNER/REPO` reads: every
firmware/*.py to the device's root, every programs/*.json to programs/, and umqtt.simple as a
dependency (micropython-lib's package.json convention: urls as [destination, source] pairs,
deps as [name, version] pairs, a version).

    .venv/bin/python tools/package_json.py          # rewrite it
    .venv/bin/python tools/package_json.py --check  # exit 1 if it is out of date
"""
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def expected():
    urls = [[f.name, f"firmware/{f.name}"] for f in sorted((ROOT / "firmware").glob("*.py"))]
    urls += [[f"programs/{f.name}", f"programs/{f.name}"]
             for f in sorted((ROOT / "programs").glob("*.json"))]
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
