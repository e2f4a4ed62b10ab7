# A MicroPython image for the ESP32 with this firmware frozen in (issue 14): its bytecode and
# constants run from flash, not the heap. Measured on the 32-bit build (boot-sim bench,
# 2026-12-01): a session with MQTT peaks at 35.1 KB of live heap frozen, 122.0 KB from .mpy
# files, which a stock ESP32 without PSRAM cannot hold (the .mpy boot runs there without
# the network: 97.3 KB). Not built here (it needs ESP-IDF); see
# docs/HARDWARE.md, "A frozen image":
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/tools/esp32_manifest.py
# The stock board manifest brings asyncio, ssl and umqtt.simple (micropython-lib's current one).
# main.py is not frozen: it stays on the board's flash, where flash.sh puts it, with board.json.
# CI builds this same file into the 32-bit unix port (tools/mp32.py frozen-image, with
# port_manifest=False: the unix port has no boards/manifest.py; asyncio, ssl and umqtt.simple
# come from mp32's own manifest) and runs a session from it (host_tests/test_frozen_image.py).
options.defaults(port_manifest=True)  # noqa: F821  (the manifest's own names)
if options.port_manifest:  # noqa: F821
    include("$(PORT_DIR)/boards/manifest.py")  # noqa: F821

FIRMWARE = (
    "alarm.py", "app.py", "board.py", "boardcfg.py", "button.py", "commands.py", "console.py",
    "display.py", "dumpcheck.py", "encoder.py", "faultlog.py", "filecheck.py", "fitorder.py",
    "flashfs.py", "gate.py", "holdwatch.py", "housekeeping.py", "lazy.py", "limits.py",
    "maint.py", "maintlink.py", "monitor.py", "mqttlink.py", "mqttmsg.py", "netconf.py", "netguard.py", "netstart.py",
    "pressure.py", "program.py", "ranges.py", "remote.py", "rtcnote.py", "safety.py",
    "sequencer.py", "settings.py",
    "telemetry.py", "tripped.py", "ui.py", "valves.py", "waveplan.py", "wifi.py",
)
for name in FIRMWARE:
    module(name, base_path="../firmware")  # noqa: F821
