# One checker for the files people write and the boot reads (issue 13, part 5): board.json
# (boardcfg.py), settings.json (settings.py), programs/NAME.json (program.py), secrets.json
# (netconf.py), and on the computer the scenario files (sim/scenario.py). Each file kind states
# its fields in a table of rows, a row a field:
#
#     (name, kind, lo, hi, default, why)
#
#   name     the JSON key; its unit is its suffix (_mmhg, _s, _min, _ml, _v, _pct; _pin: a GPIO)
#   kind     INT a whole number from lo to hi; NUM a number from lo to hi (NaN refused); BOOL
#            true or false; TEXT a text of lo to hi characters; CHOICE one of lo (a tuple);
#            OBJ a JSON object; LIST a list, PIN a GPIO: the file kind's own code checks these,
#            and what is inside an object (they depend on the chip or the chamber count)
#   default  REQUIRED: the file must give it; None: it may be left out, nothing is assumed;
#            else what the boot uses when it is left out
#   why      what the field is for, or where its range comes from (for people: the limits
#            that keep a leg safe live in limits.py, and the tables take them from there)
#
# Every refusal reads "<file>: field '<field>': <what is wrong and what is allowed>".
#
# And the one JSON reader, read(): a UTF-8 byte-order mark (Windows editors write one) and CRLF
# line ends are accepted wherever a file is read, on the device and on the computer.
import json
import os
from limits import FILE_MAX_BYTES

INT = "int"
NUM = "num"
BOOL = "bool"
TEXT = "text"
CHOICE = "choice"
OBJ = "obj"
LIST = "list"
PIN = "pin"
REQUIRED = "(required)"     # a default no field takes: the row's field must be given

BOM = b"\xef\xbb\xbf"       # UTF-8's byte-order mark


class NotText(ValueError):
    """The file's bytes are not UTF-8 text (or far more of them than any such file has)."""


def problem(kind, value, lo=None, hi=None):
    """What is wrong with value for a field of this kind and range, or None."""
    if kind == INT:
        if isinstance(value, bool) or not isinstance(value, int) or value < lo or value > hi:
            return "must be a whole number from %s to %s, got %r" % (lo, hi, value)
    elif kind == NUM:
        # value != value: NaN (CPython's JSON reads NaN); an infinity falls outside any range
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                value != value or value < lo or value > hi:
            return "must be a number from %s to %s, got %r" % (lo, hi, value)
    elif kind == BOOL:
        if not isinstance(value, bool):
            return "must be true or false, got %r" % (value,)
    elif kind == TEXT:
        if not isinstance(value, str) or not lo <= len(value) <= hi:
            return "must be a text of %d to %d characters, got %r" % (lo, hi, value)
    elif kind == CHOICE:
        if not isinstance(value, str) or value not in lo:
            return "must be one of %s, got %r" % (", ".join(lo), value)
    elif kind == OBJ:
        if not isinstance(value, dict):
            return "must be a JSON object"
    return None             # LIST, PIN: the file kind's own code checks them


def find(table, name):
    """The row of table for the field name, or None."""
    for row in table:
        if row[0] == name:
            return row
    return None


def unknown(data, table):
    """The first key of the object data that table has no row for, or None."""
    for key in data:
        if find(table, key) is None:
            return key
    return None


def names(table):
    return ", ".join(row[0] for row in table)


def join(where, key):
    return where + "." + key if where else key


class Checker:
    """Checks one file against its tables. source names the file in every refusal ("board file
    board.json", "settings.json"); error is the exception class to raise (BoardError, ...);
    notes: field -> a text added to that field's refusals (why its limit is there)."""

    def __init__(self, source, error, notes=None):
        self.source = source
        self.error = error
        self.notes = notes or {}

    def fail(self, field, text):
        raise self.error("%s: field '%s': %s%s" % (self.source, field, text,
                                                   self.notes.get(field, "")))

    def section(self, data, table, where=""):
        """Check the object data against table (where: its field, "" for the whole file): an
        unknown key, a missing required field, a simple field of the wrong kind or out of its
        range is refused. Returns data, unchanged; what is inside an OBJ, and LIST and PIN
        fields, are the caller's to check."""
        if not isinstance(data, dict):
            self.fail(where or "(file)", "must be a JSON object")
        key = unknown(data, table)
        if key is not None:
            self.fail(join(where, key), "unknown field%s; allowed: %s"
                      % (" in " + where if where else "", names(table)))
        for row in table:
            name = row[0]
            if name in data:
                text = problem(row[1], data[name], row[2], row[3])
                if text:
                    self.fail(join(where, name), text)
            elif row[4] == REQUIRED:
                self.fail(join(where, name), "missing%s" % (" from " + where if where else ""))
        return data


def parse(raw):
    """The parsed JSON of a file's bytes. A UTF-8 byte-order mark is skipped; CRLF line ends
    are JSON whitespace. Raises NotText (not UTF-8 text) or ValueError (not JSON)."""
    if raw[:3] == BOM:
        raw = raw[3:]
    elif raw[:2] == b"\xff\xfe" or raw[:2] == b"\xfe\xff":
        raise NotText("it is UTF-16 text (it starts with a UTF-16 byte-order mark): save it "
                      "as UTF-8")
    try:
        text = raw.decode()
    except UnicodeError as e:   # MicroPython's says nothing more
        raise NotText("its bytes are not UTF-8 text%s" % (" (%s)" % e if str(e) else ""))
    return json.loads(text)


def read_bytes(path):
    """A file's bytes. Raises OSError when it cannot be read, NotText when it is larger than
    limits.FILE_MAX_BYTES (read whole, a big one would not fit the chip's heap: MemoryError)."""
    size = os.stat(path)[6]
    if size > FILE_MAX_BYTES:
        raise NotText("it is %d bytes, more than any file of this kind (at most %d): is it "
                      "the right file?" % (size, FILE_MAX_BYTES))
    with open(path, "rb") as f:
        return f.read()


def read(path):
    """The one JSON loader: the parsed contents of the file at path. Raises OSError (it cannot
    be read), NotText (its bytes are not UTF-8 text) or ValueError (it is not JSON)."""
    return parse(read_bytes(path))
