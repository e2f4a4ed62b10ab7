# The one module that writes to flash. Every firmware write (the logs, the settings, the
# markers) goes through these five functions, so the simulator charges the chip's time for each
# (sim/device/flashmodel.py) and a test finds any other write (host_tests/test_flash_console.py).
#
# What a write costs on the chip: LittleFS erases a 4 KB sector before it writes a block, and an
# erase stalls the whole chip (both cores: the caches are off while the flash is busy, ESP-IDF
# "Concurrency Constraints for Flash on SPI1"): 45 ms typical, 400 ms at worst for one sector
# (Winbond W25Q32JV datasheet, tSE). Nothing runs meanwhile, not even the control task, so the
# firmware calls these only from the service task inside App.rest_window (every output
# released, the watchdog widened), one call per window (housekeeping.py). Reading is fast and
# is not routed here.
import json
import os


def write(path, text):
    """A whole file, created or replaced (not atomic: write a temporary and rename it). text: a
    str, or a list of str written in turn (no one long string to make: a heap broken up into
    small holes still holds the pieces, issue 14)."""
    with open(path, "w") as f:
        if isinstance(text, str):
            f.write(text)
        else:
            for piece in text:
                f.write(piece)


def json_pieces(record):
    """A dict's JSON as pieces for write(): one per key (read back whole as one object)."""
    out = ["{"]
    for key in record:
        if len(out) > 1:
            out.append(", ")
        out.append(json.dumps(key))
        out.append(": ")
        out.append(json.dumps(record[key]))
    out.append("}")
    return out


def append(path, text):
    """text added at the end of the file (created if missing)."""
    with open(path, "a") as f:
        f.write(text)


def rename(src, dst):
    """src renamed to dst, replacing it (atomic on LittleFS)."""
    try:
        os.rename(src, dst)
    except OSError:         # a filesystem that will not rename over an existing file
        os.remove(dst)
        os.rename(src, dst)


def remove(path):
    """The file removed; False if there was none (or the flash refused)."""
    try:
        os.remove(path)
        return True
    except OSError:
        return False


def touch(path):
    """An empty marker file."""
    write(path, "")
