# Calls that may block the whole board on an ESP32, and how they are kept away from sessions.
#
# Two network steps run inside one C call whose length the port does not bound:
#   "dns"  the broker's name lookup (lwIP getaddrinfo: retries for seconds if no server answers);
#   "tls"  the TLS handshake (each mbedTLS step is one call; the key exchange takes a while on
#          an ESP32's CPU).
# So they run only while no session runs (the boot is vented then), and a marker file on flash
# names the step while it runs. If the step outlasts the hardware watchdog, the board resets with
# the marker still there (a reset runs no clean-up); the next boot finds it, skips that step for
# the whole boot and says what to change. An IP address needs no lookup at all.
import os

MARK = "mqtt.block"

ADVICE = {"dns": "looking up the broker's name hung until the watchdog restarted the board: "
                 "put the broker's IP address in secrets.json (mqtt.host)",
          "tls": "the TLS handshake held the board up until the watchdog restarted it: "
                 "TLS is off until the next restart; use a broker with an ECDSA P-256 "
                 "certificate, or plain MQTT on a trusted network"}


def is_ip(host):
    parts = host.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not p.isdigit() or int(p) > 255:
            return False
    return True


class Guard:
    def __init__(self, flash_dir=""):
        self.path = flash_dir + MARK
        self.hung = self._take()       # the step that hung before the last reset, or ""

    def _take(self):
        try:
            with open(self.path) as f:
                step = f.read()
        except OSError:
            return ""
        self.end()
        return step if step in ADVICE else ""

    def begin(self, step):
        with open(self.path, "w") as f:
            f.write(step)

    def end(self):
        """Not in a `finally`: a reset must leave the marker behind, as on the device."""
        try:
            os.remove(self.path)
        except OSError:
            pass
