"""boot-sim run --pace (issue 18 part 7): simulated time held to real time, or a factor of it,
so a person can watch the boot in Home Assistant or mosquitto_sub while the simulator runs.
The firmware under MicroPython; a real mosquitto broker and mosquitto_sub as the person."""
import json
import time

import pytest

from mqtt_rig import Broker, Client, missing_tools
from sim.cli import main as boot_sim


def scenario(tmp_path, **keys):
    f = tmp_path / "s.json"
    f.write_text(json.dumps(keys))
    return str(f)


def summary_of(trace):
    return json.loads(trace.read_text().splitlines()[-1])


def test_pace_holds_simulated_time_to_a_factor_of_real_time(tmp_path, capsys):
    quick = scenario(tmp_path, duration_s=6, actions=[])
    trace = tmp_path / "t.jsonl"
    t0 = time.monotonic()
    assert boot_sim(["run", "--scenario", quick, "--pace", "3", "--quiet",
                     "--trace", str(trace)]) == 0
    wall = time.monotonic() - t0
    assert wall >= 1.9, wall                        # 6 s simulated at 3 times real time
    s = summary_of(trace)
    assert s["kind"] == "summary" and 2.0 <= s["speedup"] <= 3.2, s["speedup"]
    assert boot_sim(["run", "--scenario", quick, "--pace", "0", "--quiet"]) == 2
    assert "--pace: a speed above 0 (1 real time, 10 ten times faster), got 0.0" in \
        capsys.readouterr().err


@pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools()))
def test_a_paced_run_can_be_watched_with_mosquitto_sub(tmp_path, capsys):
    """As docs/MQTT.md shows it: a secrets.json in the --flash directory, --pace 2; the boot's
    state arrives about once a second of simulated time, spread over real time."""
    broker = Broker(tmp_path)
    user = Client(broker, topics=("boot/watch/#",))
    try:
        flash = tmp_path / "flash"
        flash.mkdir()
        (flash / "secrets.json").write_text(json.dumps(
            {"wifi": {"ssid": "home", "password": "pw"},
             "mqtt": {"host": "127.0.0.1", "port": broker.port, "topic": "boot/watch"}}))
        s = scenario(tmp_path, duration_s=10, actions=[{"t_s": 1, "do": "start"}],
                     settings={"minutes": 5, "fit_check": False})
        assert boot_sim(["run", "--flash", str(flash), "--scenario", s, "--pace", "2",
                         "--quiet"]) == 0
        time.sleep(0.3)
        states = [(m[0], json.loads(m[2])) for m in user.on("boot/watch/state") if m[2]]
    finally:
        user.stop()
        broker.stop()
    capsys.readouterr()
    assert len(states) >= 5, states
    assert any(st["phase"] == "fill" for _, st in states), states
    (w0, s0), (w1, s1) = states[0], states[-1]
    sim_s, wall_s = (s1["t_ms"] - s0["t_ms"]) / 1000, w1 - w0
    assert wall_s >= 2.5, (wall_s, sim_s)           # spread over real time, not a burst
    assert 1.5 <= sim_s / wall_s <= 2.5, (sim_s, wall_s)
