# Simulated `network` for the host: a Wi-Fi station as the ESP32 port has it (WLAN.active,
# connect, isconnected, status, config("mac"), ifconfig), on the virtual clock. A join takes
# simulated time; the access point, the join time and outages come from the run config
# (sim/device/simopts.py "network"). The sockets themselves are the computer's (mpshim/socket.py).
import simctx
import simopts

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_BEACON_TIMEOUT = 200
MAC = b"\x24\x0a\xc4\x00\x00\x01"


class WLAN:
    def __init__(self, interface=STA_IF):
        self._if = interface
        self._active = False
        self._join_at = -1         # simulated ms at which the join completes
        self._status = STAT_IDLE

    def _now(self):
        return simctx.board.ms

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        if not on:
            self.disconnect()

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._active:
            raise OSError("Wi-Fi Internal Error")     # what the ESP32 port says
        net = simopts.NET
        want = net.get("ssid")
        if want is not None and ssid != want:
            self._status = STAT_NO_AP_FOUND
            return
        if "password" in net and key != net["password"]:
            self._status = STAT_WRONG_PASSWORD
            return
        self._status = STAT_CONNECTING
        self._join_at = self._now() + net.get("join_ms", 800)

    def disconnect(self):
        self._join_at = -1
        self._status = STAT_IDLE

    def status(self, param=None):
        if param is not None:
            return -60 if param == "rssi" else None
        up = simopts.wifi_up(self._now())
        if self._status == STAT_CONNECTING and 0 <= self._join_at <= self._now():
            self._status = STAT_GOT_IP if up else STAT_NO_AP_FOUND
        if self._status == STAT_GOT_IP and not up:
            self._status = STAT_BEACON_TIMEOUT     # an outage: the access point is gone
            self._join_at = -1
        return self._status

    def isconnected(self):
        return self.status() == STAT_GOT_IP

    def config(self, *args, **kwargs):
        if args and args[0] == "mac":
            return MAC
        return None

    def ifconfig(self, *args):
        return ("192.168.4.2", "255.255.255.0", "192.168.4.1", "192.168.4.1")
