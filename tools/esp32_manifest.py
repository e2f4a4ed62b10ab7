# A MicroPython image for the ESP32 with this firmware frozen in (issue 14): its bytecode and
# constants run from flash, not the heap. Measured on the 32-bit build (boot-sim bench,
# 2026-12-01): a session with MQTT peaks at 40.6 KB of live heap frozen, 145.4 KB from .mpy
# files, which a stock ESP32 without PSRAM cannot hold. Not built here (it needs ESP-IDF); see
# docs/HARDWARE.md, "A frozen image":
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/tools/esp32_manifest.py
# The stock board manifest brings asyncio, ssl and umqtt.simple (micropython-lib's current one).
# main.py is not frozen: it stays on the board's flash, where flash.sh puts it, with board.json.
include("$(PORT_DIR)/boards/manifest.py")  # noqa: F821  (the manifest's own functions)

FIRMWARE = (
    "alarm.py", "app.py", "board.py", "boardcfg.py", "button.py", "commands.py", "console.py",
    "display.py", "dumpcheck.py", "encoder.py", "faultlog.py", "filecheck.py", "fitorder.py",
    "flashfs.py", "gate.py", "holdwatch.py", "housekeeping.py", "limits.py", "monitor.py",
    "mqttlink.py", "mqttmsg.py", "netconf.py", "netguard.py", "netstart.py", "pressure.py",
    "program.py", "remote.py", "rtcnote.py", "safety.py", "sequencer.py", "settings.py",
    "telemetry.py", "tripped.py", "ui.py", "valves.py", "waveplan.py", "wifi.py",
)
for name in FIRMWARE:
    module(name, base_path="../firmware")  # noqa: F821
