# `boot-sim bench` only: stands in for the firmware's main.py in a normal simulated session
# (sim/device/run.py imports `main`; MICROPYPATH puts this folder first), watches the heap, and
# runs the firmware's own main.py unchanged. See bench_mp.session_heap. Settings come from the
# environment: BENCH_FIRMWARE_MAIN (path of the firmware's main.py), BENCH_MQTT (none, umqtt,
# telemetry).
import os
import bench_mp

bench_mp.session_heap(os.getenv("BENCH_FIRMWARE_MAIN"), os.getenv("BENCH_MQTT") or "none")
