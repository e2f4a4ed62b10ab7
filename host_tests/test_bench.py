"""`boot-sim bench --quick`: every section of the benchmark runs (the firmware under MicroPython)
and produces real, sane figures; the table and the JSON agree. One quick run (about 40 s)."""
import json

import pytest

from sim import bench, bench_heap, runtimes
from sim.cli import main


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    rc = main(["bench", "--quick", "--json", str(path)])
    data = json.loads(path.read_text())
    data["rc"] = rc
    return data


def test_every_section_ran(results):
    assert results["rc"] == 0, results.get("error")
    for name in bench.SECTIONS:
        assert "error" not in results[name], results[name]["error"]
        assert results[name]["rows"], name
    m = results["machine"]
    assert m["nproc"] >= 1 and m["cpu"] and "MicroPython" in m["micropython"]


def test_heap_per_tick(results):
    a = results["alloc"]
    assert a["runtime"] == "micropython"
    cal = a["calibration"]
    assert cal["meter_net"] == 0 and cal["excluded_wrapper_total"] == 0, cal
    s = a["summary"]
    assert s["ticks"] >= 500
    # the read and the safety checks, and the sequencer step, allocate nothing
    assert s["a_read_and_safety_B_per_tick"] == 0
    assert s["b_sequencer_B_per_tick"] == 0
    # the whole tick: a small, measured figure; the plant's own allocation is not in it
    assert 0 <= s["c_tick_B_per_tick"] < 200
    assert a["tick"]["plant_advance"][0] > 100 * s["ticks"]
    # gc.mem_alloc() (blocks) and mem_current (bytes) agree that the tick allocates
    # when, and only when, it does
    assert (a["tick"]["gc_mem_alloc_tick"][0] > 0) == (a["tick"]["meters"]["App.tick"][0] > 0)
    assert a["self"]["meters"], "the per-method pass metered nothing"


def test_session_heap(results):
    h = results["heap"]
    st = h["st"]
    assert st["samples"] > 10 and st["looks"] > 1000
    # the firmware's live heap: tens of KB, never the process's heap
    assert 20 * 1024 < h["peak_bytes"] < 1024 * 1024
    assert st["peak_live"] <= h["peak_bytes"]
    assert 0 < h["code_bytes"] < h["peak_bytes"]
    if h["mode"] != "none":
        assert st["mqtt_bytes"] > 1024


@pytest.mark.skipif(runtimes.mp32_binary() is None,
                    reason="the 32-bit MicroPython is not set up (tools/mp32.py; CI builds it)")
def test_session_heap_on_the_32bit_build(results):
    """Measured on the chip-faithful build, each session in the chip's heap (bench_heap.py)."""
    h, chip = results["heap"], results["heap_32bit"]
    assert h["word_bytes"] == 4 and chip["chip_heap_kb"] == bench_heap.CHIP_HEAP_KB
    for key in ("frozen_mqtt_kb", "mpy_nonet_kb", "mpy_mqtt_kb", "frozen_nonet_kb"):
        assert 10 < chip[key] < bench_heap.LARGE_HEAP_KB, (key, chip)
    # frozen, the code stays in the image: the heap holds far less
    assert chip["frozen_mqtt_kb"] < chip["mpy_mqtt_kb"] / 2
    assert chip["frozen_nonet_kb"] < chip["frozen_mqtt_kb"]
    for name, st in h["variants"].items():
        assert st["heap_kb"] in (bench_heap.CHIP_HEAP_KB, bench_heap.LARGE_HEAP_KB), name
        assert st["samples"] > 10 and st["end_ms"] > 60000, name
        if st["heap_kb"] == bench_heap.CHIP_HEAP_KB:
            # run in the chip's heap: what was left free and the peak add up to it, less what
            # the simulator takes of it (the plant's floats, one step's garbage): a few KB
            sim_kb = bench_heap.CHIP_HEAP_KB - (st["peak_live"] + st["min_free"]) / 1024
            assert 0 <= sim_kb < 4, (name, sim_kb)
        else:
            # it did not fit: a MemoryError in the chip's heap, or (MQTT configured) the boot
            # ran without the network and said why; and more than that at its peak
            c = st["capped"]
            assert "MemoryError" in (c["exit"] or "") or "network needs" in c["no_network"], \
                (name, c)
            assert st["peak_live"] > (bench_heap.CHIP_HEAP_KB - 4) * 1024, name


def test_reaction(results):
    runs = results["reaction"]["runs"]
    assert [r["pump_strength"] for r in runs] == list(bench.QUICK_STRENGTHS)
    for r in runs:
        assert r["crossed"], r
        assert r["first_fault"] == "OVER_PRESSURE", r
        assert 0 <= r["reaction_ms"] <= bench.REACTION_BUDGET_MS, r
        assert 0 < r["excursion_mmhg"] < 130, r        # the relief valve caps at 280


def test_vent(results):
    for r in results["vent"]["runs"]:
        assert len(r["vent_ms"]) == 4
        assert max(r["p_at_stop_mmhg"]) > 50, r           # the chambers were full
        for t in r["vent_ms"]:
            assert t is not None and 100 < t < 5000, r
        assert 1400 <= r["press_to_stop_ms"] <= 1700, r   # a long press is a stop 1.5 s on
    # the first contact stopped the pump (a long press mid-fill), within the debounce + a tick
    assert 30 <= results["vent"]["contact"]["pump_off_ms"] <= 50, results["vent"]["contact"]


def test_accuracy(results):
    acc = results["accuracy"]
    assert acc["variations"]
    for name, per in acc["variations"].items():
        for c in bench.CONTROLLERS:
            cell = per[c]
            assert cell["fills"] > 0, (name, c, cell)
            assert abs(cell["mean_mmhg"]) < 10 and cell["max_abs_mmhg"] < 15, (name, c, cell)


def test_speed_and_size(results):
    for runtime in ("micropython", "cpython"):
        sp = results["speed"][runtime]
        assert sp["end_reason"] == "complete" and sp["speed"] > 5, sp
    mpy = results["mpy"]
    assert set(mpy["modules"]) >= {"app", "safety", "sequencer", "pressure"}
    assert 10 * 1024 < mpy["total"] < mpy["source_total"]


def test_table_marks_misses(results):
    text = results["table"]
    for row in results["rows"]:
        assert row[0][:40] in text
    for fig in results["misses"]:
        line = next(x for x in text.splitlines() if x.startswith(fig[:40]))
        assert "MISS" in line


def test_table_format():
    rows = [("1a a figure", "0 B", "0", True, ""), ("2a another", "5 KB", "<= 4 KB", False,
                                                     "why, and what closes it")]
    text = bench.format_table(rows)
    assert "ok" in text.splitlines()[2]
    assert "MISS [1]" in text and "[1] MISS: why, and what closes it" in text
