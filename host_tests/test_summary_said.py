"""What `boot-sim run` tells the person who ran it (issue 18, parts 2 and 4): every warning and
every fault the firmware raised, with its advice, in the summary (a bad or missing program, a
bad secrets.json, a refused MQTT password, a damaged settings file), and each fill compared with
the target in force for it (a knob turn, MQTT set_target, a custom program), in the summary and
in the plot. The firmware runs under MicroPython; the broker is a real mosquitto."""
import json
import sys

import pytest

from sim import paths, summary
from sim.cli import main as boot_sim
from sim.plot import plot
from sim.session import build_config, run

sys.path.insert(0, str(paths.ROOT / "host_tests"))
import mqtt_rig  # noqa: E402

paths.import_device_modules()
import safety  # noqa: E402


def _scenario(tmp_path, name="s", **keys):
    f = tmp_path / f"{name}.json"
    f.write_text(json.dumps(keys))
    return str(f)


def _said_block(out):
    """The summary's 'the boot said' lines."""
    lines = out.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("the boot said"))
    block = []
    for x in lines[start + 1:]:
        if not x.startswith("  "):
            break
        block.append(x.strip())
    return lines[start], block


def test_missing_program_and_bad_secrets_are_in_the_summary(tmp_path, capsys):
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "secrets.json").write_text('{"wifi": {"ssid": "x"}, "mqtt": {"host": 5}}')
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"pressure_mmhg": 60, "minutes": 5, "mode": "custom",
                                    "program": "nosuch"}))
    quick = _scenario(tmp_path, duration_s=3, actions=[])
    assert boot_sim(["run", "--settings-file", str(settings), "--scenario", quick,
                     "--flash", str(flash), "--quiet"]) == 0
    head, block = _said_block(capsys.readouterr().out)
    assert "warnings: 2" in head
    assert any("program file programs/nosuch.json: cannot be read" in x and
               "running the plain wave" in x for x in block), block
    assert any("secrets.json: field 'mqtt.host'" in x and "the network stays off" in x
               for x in block), block


def test_a_refused_program_and_a_damaged_settings_file_are_in_the_summary(tmp_path, capsys):
    flash = tmp_path / "flash"
    (flash / "programs").mkdir(parents=True)
    (flash / "programs" / "short-rest.json").write_text(json.dumps(
        {"name": "short-rest", "chambers": [{"mmhg": 60, "hold_s": 0}] * 4,
         "hold_s": 5, "rest_s": 5}))
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"pressure_mmhg": 60, "minutes": 5, "mode": "custom",
                                    "program": "short-rest"}))
    quick = _scenario(tmp_path, duration_s=3, actions=[])
    assert boot_sim(["run", "--settings-file", str(settings), "--scenario", quick,
                     "--flash", str(flash), "--quiet"]) == 0
    _, block = _said_block(capsys.readouterr().out)
    assert any("short-rest" in x and "rest_s" in x for x in block), block
    settings.write_bytes(b'{"pressure_mmhg": 9')           # damaged: not JSON
    assert boot_sim(["run", "--settings-file", str(settings), "--scenario", quick,
                     "--quiet"]) == 0
    _, block = _said_block(capsys.readouterr().out)
    assert any("settings.json is not valid JSON" in x and "starting at 20 mmHg" in x
               for x in block), block


@pytest.mark.skipif(mqtt_rig.missing_tools() is not None,
                    reason=str(mqtt_rig.missing_tools()))
def test_a_refused_mqtt_password_is_in_the_summary_once(tmp_path):
    broker = mqtt_rig.Broker(tmp_path, users={"boot": "s3cret"})
    try:
        config = build_config({"duration_s": 20, "actions": []})
        config["network"] = {}
        secrets = {"wifi": {"ssid": "home"},
                   "mqtt": {"host": "127.0.0.1", "port": broker.port, "user": "boot",
                            "password": "wrong", "topic": "boot/t", "discovery": False}}
        s, follower = run(config, "micropython", quiet=True,
                          flash_files={"secrets.json": json.dumps(secrets)})
    finally:
        broker.stop()
    refusals = [r for _, name, r in follower.events if name == "network" and
                r.get("status") == "down"]
    assert len(refusals) >= 2                   # it retries, and is refused each time
    lines = summary.network(follower.events)
    assert len(lines) == 1, lines               # ... listed once, with how often
    assert "not authorised (check mqtt.user and mqtt.password)" in lines[0]
    assert f"({len(refusals)} times)" in lines[0]
    assert lines[0] in summary.text(s, config, follower.events)


def test_every_fault_is_listed_with_its_advice(tmp_path, capsys):
    quick = _scenario(tmp_path, settings={"minutes": 2, "fit_check": False},
                      faults=[{"t_s": 7, "fault": "pump_dead"}], duration_s=14)
    assert boot_sim(["run", "--scenario", quick, "--quiet"]) == 0
    out = capsys.readouterr().out
    head, block = _said_block(out)
    faults = [x for x in block if x.startswith("fault ")]
    assert faults and "faults: %d" % len(faults) in head
    code = faults[0].split()[1]
    assert faults[0].endswith(safety.ADVICE[safety.CODES.index(code)]), faults[0]


TURNED = {"settings": {"pressure_mmhg": 80, "minutes": 5}, "duration_s": 150,
          "actions": [{"t_s": 0, "do": "start"}, {"t_s": 60, "do": "turn", "detents": -8},
                      {"t_s": 100, "do": "remote",
                       "payload": "{\"cmd\": \"set_target\", \"value\": 60}"}]}


def test_fills_are_compared_with_the_target_in_force_after_a_knob_and_mqtt(tmp_path):
    trace = tmp_path / "t.jsonl"
    config = build_config(TURNED)
    s, follower = run(config, "micropython", str(trace), quiet=True)
    by_wave = {}
    for f in s["fills"]:
        by_wave.setdefault(f["cycle"], set()).add(f["target_mmhg"])
    assert by_wave == {1: {80}, 2: {40}, 3: {60}}
    held_low = [f["p_mmhg"] for f in s["fills"] if f["cycle"] == 2]
    assert max(held_low) < 45                   # 35+ off the starting 80: not what we report
    line = summary.fills_line(s["fills"], 80)
    worst = float(line.split("worst ")[1].split(" off")[0])
    assert worst < 3, line
    assert "targets in force 40 to 80, started at 80" in line
    png = tmp_path / "t.png"
    marks = plot(str(trace), str(png))
    assert png.stat().st_size > 0
    steps = [y for _, y in marks["targets"]]
    assert [y for i, y in enumerate(steps) if i == 0 or steps[i - 1] != y] == [80, 40, 60]
    assert marks["actions"] == ["start", "turn -8", "MQTT set_target 60"]
    assert marks["overlaps"] == []              # every label readable


def test_a_custom_program_is_compared_with_each_chambers_own_target(tmp_path):
    config = build_config({"settings": {"pressure_mmhg": 80, "minutes": 5, "mode": "custom",
                                        "program": "calf-focus"}, "duration_s": 70})
    s, _ = run(config, "micropython", quiet=True)
    program = json.loads((paths.ROOT / "programs" / "calf-focus.json").read_text())
    wanted = [c["mmhg"] for c in program["chambers"]]
    first = [f for f in s["fills"] if f["cycle"] == 1]
    assert [f["target_mmhg"] for f in first] == wanted
    assert max(abs(f["p_mmhg"] - f["target_mmhg"]) for f in s["fills"]) < 3


def test_two_faults_at_one_moment_share_one_label_in_the_plot(tmp_path):
    trace = tmp_path / "t.jsonl"
    config = build_config({"settings": {"minutes": 2}, "duration_s": 30,
                           "faults": [{"t_s": 12, "fault": "pump_dead"},
                                      {"t_s": 12, "fault": "dump_stuck_closed"}]})
    run(config, "micropython", str(trace), quiet=True)
    marks = plot(str(trace), str(tmp_path / "t.png"))
    assert marks["injected"] == ["dump_stuck_closed + pump_dead"] or \
        marks["injected"] == ["pump_dead + dump_stuck_closed"]
    # the firmware's own faults: each moment one label (VENT_FAILED may follow its cause)
    assert len(marks["faults"]) == len(set(marks["faults"]))
    assert marks["overlaps"] == []              # none printed over another or the legend


def test_the_overlap_check_sees_two_labels_printed_over_each_other():
    import matplotlib.pyplot as plt
    from sim.plot import _overlaps
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="line")
    a = ax.text(0.5, 0.5, "PUMP_STUCK_ON", rotation=90)
    b = ax.text(0.5, 0.55, "dump_stuck_closed", rotation=90)
    c = ax.text(0.1, 0.1, "apart")
    legend = ax.legend(loc="upper right")
    found = _overlaps(fig, [a, b, c], legend)
    plt.close(fig)
    assert ("PUMP_STUCK_ON", "dump_stuck_closed") in found
    assert not [p for p in found if "apart" in p]


def test_what_the_boot_said_is_in_time_order_and_a_fault_that_ends_is_told(tmp_path, capsys):
    """kink_opens: the kink is injected at 3 s and opens at 20 s; BLOCKED and VENT_FAILED at
    its fill, the acknowledgement at 33 s: listed as they happened, the kink's end named in the
    summary and on the plot."""
    png = tmp_path / "k.png"
    trace = tmp_path / "k.jsonl"
    assert boot_sim(["run", "--scenario", "kink_opens", "--quiet", "--trace", str(trace)]) == 0
    out = capsys.readouterr().out
    _, block = _said_block(out)
    times = [float(x.split(" at ")[1].split(" s")[0]) for x in block]
    assert times == sorted(times) and len(times) >= 3, block
    assert "fault injected at 3.0 s: valve_stuck_closed" in out
    assert "injected fault ended at 20.0 s: valve_stuck_closed" in out
    assert out.splitlines()[0].startswith("end: fault BLOCKED at 9.4 s, acknowledged at 33.1 s")
    marks = plot(str(trace), str(png))
    assert marks["fault_ends"] == ["valve_stuck_closed ends"] and marks["overlaps"] == []


def test_a_wave_cut_short_is_said():
    fills = [{"cycle": c, "chamber": k, "p_mmhg": 80.0, "target_mmhg": 80}
             for c in (1, 2) for k in range(1, 5)] + \
        [{"cycle": 3, "chamber": 1, "p_mmhg": 80.0, "target_mmhg": 80}]
    line = summary.fills_line(fills, 80)
    assert line.startswith("waves: 3 (the last cut short after 1 of its 4 fills"), line
    assert "cut short" not in summary.fills_line(fills[:8], 80)


def test_a_chamber_read_as_empty_behind_a_shut_valve_is_not_only_called_a_leak(capsys):
    assert boot_sim(["run", "--scenario", "ack_refused_chamber_shut_in", "--quiet"]) == 0
    _, block = _said_block(capsys.readouterr().out)
    first = block[0]
    assert first.startswith("warning") and "chamber 2 lost" in first
    assert "or its valve did not open to be read" in first, first
