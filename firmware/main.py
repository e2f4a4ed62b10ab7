# Runs at every boot, on the device and in the simulator alike.
# First: every output to its de-energised, vented state (board.boot), before anything else.
import board

cfg, hw = board.boot("board.json")

# The files' checkers are loaded for the boot and forgotten before the app comes (lazy.py).
import settings  # noqa: E402  (after the outputs are safe)
values, warning = settings.load("settings.json", cfg)

# The network is optional: no secrets.json, no network (a session never needs it); nor when the
# heap cannot hold it (netstart.py).
import netconf  # noqa: E402
net, net_warning = netconf.load("secrets.json")
del settings, netconf
import lazy  # noqa: E402
lazy.drop(lazy.CHECKERS)

import app  # noqa: E402
services = []
notice = ""
if net is not None:
    import netstart  # noqa: E402
    services, net_warning = netstart.services(net, board.wlan)
    if net_warning:
        notice = netstart.NOTICE
if net_warning:
    warning = warning + "; " + net_warning if warning else net_warning
app.run(cfg, hw, values, warning, services=services, notice=notice)
