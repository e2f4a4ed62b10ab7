# The virtual board the simulated `machine`, `time` and `select` modules are attached to.
# Set once by sim/device/run.py before the firmware boots; it stands in for the hardware,
# which is a singleton on a real ESP32 too.
board = None
