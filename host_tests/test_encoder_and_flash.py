"""The quadrature decoder against random contact bounce and lost edges, and the settings file
against a power cut at any point of a write."""
import json
import os

from hypothesis import given, settings as hyp_settings, strategies as st

import settings as st_mod
from encoder import Quadrature
from sim import paths
import boardcfg

CW = ((0, 0), (0, 1), (1, 1), (1, 0))     # (A, B) around one detent, clockwise
BOARD = boardcfg.load(str(paths.DEFAULT_BOARD))

# one detent: (direction, [(chatter, lost) for each of its 4 transitions]); chatter is how
# many extra times the changing contact bounces, lost marks edges the interrupt never saw
DETENT = st.tuples(st.sampled_from([1, -1]),
                   st.lists(st.tuples(st.integers(0, 4), st.lists(st.booleans(), max_size=9)),
                            min_size=4, max_size=4))


def play(detents, takes=()):
    """Drive a decoder as the pins would; return (decoded, true, detents with a lost edge)."""
    q = Quadrature(1, 1)
    a, b = 1, 1
    decoded = true = lossy = 0
    for n, (direction, transitions) in enumerate(detents):
        lost_any = False
        for i, (chatter, lost) in enumerate(transitions):
            # from rest (1, 1) clockwise visits (1, 0), (0, 0), (0, 1), (1, 1)
            step = (CW.index((a, b)) + direction) % 4
            na, nb = CW[step]
            ch_is_a = na != a
            level = 1 - (a if ch_is_a else b)
            seq = [level if k % 2 == 0 else 1 - level for k in range(2 * chatter + 1)]
            for k, lv in enumerate(seq):
                if ch_is_a:
                    a = lv
                else:
                    b = lv
                if k < len(lost) and lost[k]:
                    lost_any = True             # the pin changed, the interrupt was missed
                    continue
                q.update(a, b)
        true += direction
        lossy += lost_any
        if n in takes:
            decoded += q.take()
    # the knob comes to rest: a late interrupt (or the next edge) reads the settled pins
    q.update(a, b)
    decoded += q.take()
    return decoded, true, lossy


@hyp_settings(max_examples=300)
@given(st.lists(DETENT, max_size=25), st.sets(st.integers(0, 24)))
def test_decoder_is_never_off_by_more_than_the_detents_that_lost_edges(detents, takes):
    decoded, true, lossy = play(detents, takes)
    assert abs(decoded - true) <= lossy


@hyp_settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from([1, -1]),
                          st.lists(st.tuples(st.integers(0, 4), st.just([])),
                                   min_size=4, max_size=4)), max_size=25))
def test_bounce_alone_never_changes_the_count(detents):
    decoded, true, lossy = play(detents)
    assert lossy == 0 and decoded == true


@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), max_size=400))
def test_any_pin_noise_never_runs_away(levels):
    """Whatever the pins do, the count moves at most one detent per four changes seen."""
    q = Quadrature(1, 1)
    total = 0
    for a, b in levels:
        q.update(a, b)
        total += q.take()
    assert abs(total) <= len(levels) // 4 + 1


def test_decoder_under_micropython(micropython):
    code = r'''
import json
from encoder import Quadrature
q = Quadrature(1, 1)
out = []
cw = [(1, 0), (0, 0), (0, 1), (1, 1)]
prev = (1, 1)
for _ in range(3):
    for a, b in cw:
        q.update(a, b)
        q.update(prev[0], prev[1])      # the contact bounces back...
        q.update(a, b)                  # ...and settles: nothing counted twice
        prev = (a, b)
out.append(q.take())
for a, b in [(0, 1), (0, 0), (1, 0), (1, 1)]:   # one detent back
    q.update(a, b)
out.append(q.take())
out.append([q.transitions, q.state])
print(json.dumps(out))
'''
    assert micropython(code) == [3, -1, [8, 3]]


# --- settings and power cuts ---------------------------------------------------------------
class PowerCut(BaseException):
    pass


class CutFs:
    """A real directory that loses power after `budget` steps (each byte written is a step,
    and so is each open, close, rename and remove). no_overwrite: a filesystem whose rename
    will not replace an existing file (FAT), so save() must remove first."""

    def __init__(self, budget, no_overwrite=False):
        self.budget = budget
        self.no_overwrite = no_overwrite

    def step(self):
        if self.budget <= 0:
            raise PowerCut()
        self.budget -= 1

    def open(self, path, mode):
        self.step()
        return CutFile(open(path, mode), self)

    def rename(self, a, b):
        self.step()
        if self.no_overwrite and os.path.exists(b):
            raise OSError(17, "exists")
        os.rename(a, b)

    def remove(self, path):
        self.step()
        os.remove(path)


class CutFile:
    def __init__(self, f, fs):
        self.f = f
        self.fs = fs

    def write(self, text):
        for ch in text:
            self.fs.step()
            self.f.write(ch)
            self.f.flush()

    def close(self):
        self.f.close()
        self.fs.step()


OLD = dict(st_mod.defaults(BOARD), pressure_mmhg=60, minutes=15)
NEW = dict(st_mod.defaults(BOARD), pressure_mmhg=95, minutes=40, enabled=[1, 2, 4])


@hyp_settings(max_examples=300)
@given(st.integers(0, 200), st.booleans())
def test_a_power_cut_anywhere_in_a_save_leaves_old_or_new_settings_whole(tmp_path_factory, cut,
                                                                        no_overwrite):
    d = tmp_path_factory.mktemp("flash")
    path = str(d / "settings.json")
    st_mod.save(path, OLD)                              # what was on flash before
    try:
        st_mod.save(path, NEW, CutFs(cut, no_overwrite))
        finished = True
    except PowerCut:
        finished = False
    # the next boot
    values, warning = st_mod.load(path, BOARD)
    assert warning is None, warning
    assert values in (OLD, NEW)
    if finished:
        assert values == NEW


def test_settings_save_and_load_under_micropython(micropython, tmp_path):
    code = r'''
import json, boardcfg, settings
b = boardcfg.load(%r)
v = settings.validate({"pressure_mmhg": 70, "enabled": [2, 3]}, b)
settings.save(%r, v)
settings.save(%r, dict(v, minutes=35))
print(json.dumps(settings.load(%r, b)))
''' % (str(paths.DEFAULT_BOARD), *[str(tmp_path / "s.json")] * 3)
    values, warning = micropython(code)
    assert warning is None and values["minutes"] == 35 and values["enabled"] == [2, 3]
