# Calls that may block the whole board on an ESP32, and how they are kept away from sessions.
#
# Two network steps run inside one C call whose length the port does not bound:
#   "dns"  the broker's name lookup (lwIP getaddrinfo: retries for seconds if no server answers);
#   "tls"  the TLS handshake (each mbedTLS step is one call; the key exchange takes a while on
#          an ESP32's CPU).
# So they run only while no session runs (the boot is vented then), and a note in the RTC's
# memory (rtcnote.NET; not flash, whose writes stall the chip past the watchdog) names the step
# while it runs. If the step outlasts the hardware watchdog, the board resets with the note still
# there (a reset runs no clean-up; a power cut clears it). The order at the next boot:
#   1. App.restore (before any task or service starts) calls after_reset(): after a watchdog
#      reset the marker's step hung, so it is recorded in mqtt.skip with a fingerprint of
#      secrets.json, and the reset is reported as a network warning, not a fault;
#   2. the network service then makes its Guard, which skips the recorded step for as long as
#      secrets.json is the same (a changed secrets.json clears the record: try again).
# An IP address needs no lookup at all.
from time import ticks_diff
import flashfs
import rtcnote

SKIP = "mqtt.skip"              # "<step> <fingerprint>": the step that hung with these secrets
SECRETS = "secrets.json"

ADVICE = {"dns": "looking up the broker's name hung until the watchdog restarted the board: "
                 "MQTT stays off until secrets.json changes; put the broker's IP address in "
                 "secrets.json (mqtt.host)",
          "tls": "the TLS handshake held the board up until the watchdog restarted it: "
                 "MQTT stays off until secrets.json changes; use a broker with an ECDSA P-256 "
                 "certificate, or plain MQTT on a trusted network"}


def is_ip(host):
    parts = host.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not p.isdigit() or int(p) > 255:
            return False
    return True


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def fingerprint(flash_dir=""):
    """SHA-256 of secrets.json as 64 hex digits; "" if it cannot be read."""
    import hashlib
    import binascii
    try:
        with open(flash_dir + SECRETS, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    return binascii.hexlify(hashlib.sha256(data).digest()).decode()


def _recorded(flash_dir):
    """The step recorded as hung with the secrets.json there is now, or ""; and whether a
    record is there at all."""
    parts = _read(flash_dir + SKIP).split(" ")
    if parts[0] in ADVICE and len(parts) == 2 and parts[1] == fingerprint(flash_dir):
        return parts[0], True
    return "", parts[0] != ""


def after_reset(flash_dir, by_watchdog, rtc):
    """At boot, before any Guard is made and before the watchdog starts (App.restore): take the
    note a reset left behind (rtc: board.Hardware.rtc). After a watchdog reset its step hung: it
    is recorded on flash, to be skipped until secrets.json changes; a record made with other
    secrets is removed (flash is written only here, at boot). Returns that step, or "" (no note,
    or a reset of another cause: a power cut in the middle of a step proves no hang). A flash
    error only loses the record."""
    step = rtcnote.take(rtc, rtcnote.NET)
    current, there = _recorded(flash_dir)
    if there and not current:
        flashfs.remove(flash_dir + SKIP)        # secrets.json changed (or a damaged record)
    if not step or not by_watchdog or step not in ADVICE:
        return ""
    try:
        flashfs.write(flash_dir + SKIP, step + " " + fingerprint(flash_dir))
    except OSError:
        pass
    return step


class Guard:
    """The marker around a step that may block, and the step not to run at all. Made by the
    network service when it starts, after App.restore has called after_reset()."""

    def __init__(self, flash_dir, rtc):
        self.flash_dir = flash_dir
        self.rtc = rtc
        self.hung = self._skipped()    # the step that hung with these secrets, or ""
        self.step = ""                 # the step under way now, or ""
        self._ended_ms = 0             # (meaningful only while _ended is set)
        self._ended = ""               # the step that ended last (until held_loop has aged it)

    def _skipped(self):
        step = _recorded(self.flash_dir)[0]
        if step:
            return step
        # a note nobody took (a Guard made before App.restore, which is not the firmware's
        # order): its step may have hung, so skip it for this boot; restore decides the rest
        step = rtcnote.read(self.rtc, rtcnote.NET)
        return step if step in ADVICE else ""

    def begin(self, step):
        rtcnote.write(self.rtc, rtcnote.NET, step)
        self.step = step

    def end(self, now_ms):
        """The step is over (now_ms: ticks_ms). Not in a `finally`: a reset must leave the
        note behind, as on the device."""
        rtcnote.write(self.rtc, rtcnote.NET, "")
        if self.step:
            self._ended = self.step
            self._ended_ms = now_ms
        self.step = ""

    def held_loop(self, now_ms, window_ms):
        """The step that may have held the whole loop up just now: one under way, or one that
        ended within window_ms; else "". (App.supervise: a loop held while idle by the
        network's own blocking step is the network's, not a stalled control task.)"""
        if self.step:
            return self.step
        if self._ended and ticks_diff(now_ms, self._ended_ms) <= window_ms:
            return self._ended
        self._ended = ""                # aged: never compared again (ticks wrap)
        return ""
