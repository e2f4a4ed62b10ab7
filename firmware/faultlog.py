# A small fault log on flash that survives reboot: one JSON object a line, newest last, at most
# FAULT_LOG_ENTRIES lines. Rewritten whole through a temporary file and a rename, so a power
# cut mid-write leaves the old log or the new one, never half of one. The firmware writes it
# from the service task in rest windows, a call a window (housekeeping.py); append and
# acknowledge here do it all at once (for tools and tests).
import json
import flashfs


def read(path):
    """All records, oldest first. A missing or damaged log reads as what can be parsed."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict):
                    out.append(rec)
    except OSError:
        pass
    return out


def current(path):
    """The log's records as the firmware last wrote them: a temporary copy left by a reset
    between its write and its rename (housekeeping.py makes both in one rest window) is the
    newest, and is read instead."""
    return read(path + ".tmp") or read(path)


def text(records):
    """The log's text for these records, a line each (flashfs.write takes the list: no one
    long string to make)."""
    return [json.dumps(rec) + "\n" for rec in records]


def _write(path, records):
    tmp = path + ".tmp"
    flashfs.write(tmp, text(records))
    flashfs.rename(tmp, path)


def append(path, record, keep):
    records = current(path)
    records.append(record)
    _write(path, records[-keep:])


def unacknowledged(path):
    """The newest record if the user has not acknowledged it, else None."""
    records = current(path)
    if records and not records[-1].get("ack"):
        return records[-1]
    return None


def acknowledge(path):
    records = current(path)
    if records and not records[-1].get("ack"):
        records[-1]["ack"] = True
        _write(path, records)
