# Runs at every boot, on the device and in the simulator alike.
# First: every output to its de-energised, vented state (board.boot), before anything else.
import board

cfg, hw = board.boot("board.json")

import settings  # noqa: E402  (after the outputs are safe)
import app  # noqa: E402

values, warning = settings.load("settings.json", cfg)
app.run(cfg, hw, values, warning)
