# The range a user setting may take on this board: limits.SETTING_LIMITS narrowed by the board
# file's limits. Apart from settings.py (the file's checker, loaded only while a file is read)
# because the running boot needs it too: the knob, set_target, Home Assistant's number entity.
from limits import SETTING_LIMITS, LETDOWN_MIN_S

# why rest_s has its floor (said by the settings' and the programs' checkers)
LETDOWN_WHY = (" (every chamber must be let down, below 15 mmHg, at least %d s between two "
               "squeezes: limits.LETDOWN_MIN_S)" % LETDOWN_MIN_S)


def bounds(key, board):
    """(lo, hi) a setting may take on this board, in the setting's unit (SETTING_LIMITS; the
    board's max_target_mmhg, max_session_min and chambers narrow three of them). Raises
    KeyError for a key SETTING_LIMITS lacks."""
    lo, hi, _default, _why = SETTING_LIMITS[key]
    lim = board["limits"]
    if key == "pressure_mmhg":
        hi = min(hi, lim["max_target_mmhg"])
    elif key == "minutes":
        hi = min(hi, lim["max_session_min"])
    elif key == "boost_chamber":
        hi = min(hi, board["chambers"])
    return lo, hi
