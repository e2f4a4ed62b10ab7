"""A reset the network caused is not a stalled loop (issue 11, part 5), with the firmware's own
main.py under MicroPython on the virtual board: the order at boot is the device's (App.restore
takes netguard's marker before the MQTT service starts and makes its Guard).

A name lookup that hangs (the simulated DNS server answers after 5 s) holds the whole board
until the watchdog resets it. The boot after it warns, latches no fault and sounds no alarm;
the lookup stays skipped on every boot with the same secrets.json (the MQTT service waits,
beating its heartbeat, instead of resetting the board again), and runs again once
secrets.json changes."""
from mqtt_rig import Device

WIFI = {"ssid": "home"}
HUNG_DNS = {"dns": {"broker.lan": {"addr": "127.0.0.1", "delay_ms": 5000}}}


def _device(tmp_path, port, extra_files=None, seconds=8):
    dev = Device(tmp_path, {"wifi": WIFI, "mqtt": {"host": "broker.lan", "port": port}},
                 seconds=seconds, pace=None, network=HUNG_DNS, extra_files=extra_files)
    dev.wait(60)
    return dev


def _warnings(dev):
    return [r for _, _, r in dev.events("warning")]


def test_a_hung_lookup_is_a_network_warning_and_stays_skipped_until_the_secrets_change(
        tmp_path):
    dev = _device(tmp_path, 1883)
    assert [r["cause"] for r in dev.sims("reset")] == ["watchdog"]
    assert not dev.events("fault")                           # no LOOP_STALL, no alarm
    warn = [r for r in _warnings(dev) if r.get("step") == "dns"]
    assert len(warn) == 1 and "put the broker's IP address" in warn[0]["text"]
    assert not (dev.flash / "mqtt.block").exists()
    skip = (dev.flash / "mqtt.skip").read_bytes()
    assert skip.startswith(b"dns ")

    # every later boot with the same secrets.json: the lookup is skipped, the service waits
    # (beating: it never resets the board) and says why
    again = _device(tmp_path, 1883, {"mqtt.skip": skip}, seconds=10)
    assert not again.sims("reset") and not again.events("fault")
    notes = [r for _, _, r in again.events("network")]
    assert any(r["status"] == "degraded" and "IP address" in r.get("why", "") for r in notes)

    # secrets.json changed (here: the broker's port): the record is dropped, the lookup runs
    changed = _device(tmp_path, 8883, {"mqtt.skip": skip})
    assert [r["cause"] for r in changed.sims("reset")] == ["watchdog"]
    assert any(r.get("step") == "dns" for r in _warnings(changed))
    assert not changed.events("fault")


def test_the_boot_after_a_hung_lookup_runs_a_session_normally(tmp_path):
    """The skipped step costs nothing: a session started after the reset runs to its end."""
    first = _device(tmp_path, 1883)
    skip = (first.flash / "mqtt.skip").read_bytes()
    dev = Device(tmp_path, {"wifi": WIFI, "mqtt": {"host": "broker.lan", "port": 1883}},
                 seconds=75, pace=None, network=HUNG_DNS, extra_files={"mqtt.skip": skip},
                 scenario={"actions": [{"t_s": 0.5, "do": "start"}], "settings": {"minutes": 1}})
    dev.wait(120)
    assert not dev.sims("reset") and not dev.events("fault")
    assert dev.events("end")[0][2]["reason"] == "complete"
    assert dev.max_tick_gap_ms() <= 50
