"""boot-commission: a builder's guided first hour with real hardware (issue 15).

The steps drive the boot's maintenance mode (firmware/maint.py, maintlink.py) over the serial
console with mpremote's own serial transport; the judging is pure (steps.py) and the report
is written by report.py. See the README's "Commissioning" and docs/HARDWARE.md section 5."""
