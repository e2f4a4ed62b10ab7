# Notes for the boot after a watchdog reset, kept in the RTC's slow memory (machine.RTC().memory()
# on the ESP32 and the S3: it survives a watchdog or software reset and is lost at power-up).
# Not on flash: a flash write stalls the whole chip (up to 400 ms for a slow sector: flashfs.py),
# past the 250 ms watchdog outside a rest window, and these notes are written outside one: the
# network step under way (netguard.py) while idle, and the task the supervisor found dead as it
# stops feeding the watchdog. Power lost mid-step proves no hang, so losing them then is right.
#
# rtc: an object with memory([data]) (board.Hardware.rtc); notes are "key=text" lines.
NET = "net"         # the network step under way: "dns", "tls"
TASK = "task"       # the task whose heartbeat stopped


def _notes(rtc):
    try:
        text = bytes(rtc.memory()).decode()
    except (UnicodeError, ValueError):
        return {}               # garbage after a brown-out: no note
    out = {}
    for line in text.split("\n"):
        key, _, value = line.partition("=")
        if value:
            out[key] = value
    return out


def read(rtc, key):
    """The note under key, or ""."""
    return _notes(rtc).get(key, "")


def write(rtc, key, text):
    """Set the note under key ("" removes it)."""
    notes = _notes(rtc)
    if text:
        notes[key] = text
    elif key in notes:
        del notes[key]
    rtc.memory("\n".join([k + "=" + notes[k] for k in notes]).encode())


def take(rtc, key):
    """The note under key, then removed; "" if none."""
    text = read(rtc, key)
    if text:
        write(rtc, key, "")
    return text
