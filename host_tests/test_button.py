"""Push button (firmware/button.py): debounce, short press on release, long press while held."""
import time

import pytest
from hypothesis import given, strategies as st

import button as bt
from dual import DET, both

DEB = bt.Button.debounce_ms
LONG = bt.Button.long_ms


def feed(levels, start=0, button=None):
    """Poll a button every 1 ms with levels (a list of 0/1); return [[ms, event], ...] and it."""
    b = button or bt.Button()
    events = []
    for i, level in enumerate(levels):
        ev = b.update(time.ticks_add(start, i), bool(level))
        if ev != bt.NONE:
            events.append([i, ev])
    return events, b


def segs(*pairs):
    """segs((0, 100), (1, 50)) -> 100 zeros then 50 ones."""
    out = []
    for level, n in pairs:
        out += [level] * n
    return out


def test_timings():
    assert 10 <= DEB <= 100 and 500 <= LONG <= 5000


def test_short_press_fires_on_release_after_debounce():
    events, b = feed(segs((0, 50), (1, 200), (0, 100)))
    assert events == [[250 + DEB, bt.PRESS]]
    assert not b.down


def test_nothing_while_held_short():
    events, b = feed(segs((0, 10), (1, 500)))
    assert events == [] and b.down


@pytest.mark.parametrize("width", [1, 5, DEB - 1, DEB])
def test_a_pulse_no_longer_than_debounce_is_ignored(width):
    events, b = feed(segs((0, 20), (1, width), (0, 200)) * 5)
    assert events == [] and not b.down


def test_a_pulse_just_longer_than_debounce_counts():
    events, _ = feed(segs((0, 20), (1, DEB + 1), (0, 200)))
    assert events == [[20 + DEB + 1 + DEB, bt.PRESS]]


def test_long_press_fires_once_while_held_and_no_press_on_release():
    events, b = feed(segs((0, 10), (1, 5000), (0, 100)))
    assert events == [[10 + DEB + LONG, bt.LONG]]
    assert not b.down
    # and the next short press is a PRESS again
    events, b = feed(segs((1, 100), (0, 100)), start=6000, button=b)
    assert events == [[100 + DEB, bt.PRESS]]


def test_release_bounce_after_long_press_gives_nothing_more():
    events, _ = feed(segs((1, 2000), (0, 5), (1, 3), (0, 7), (1, 2), (0, 100)))
    assert events == [[DEB + LONG, bt.LONG]]


@pytest.mark.parametrize("start", [0, -1, -700, -1600])
def test_ticks_wraparound(start):
    levels = segs((0, 10), (1, 3), (0, 4), (1, 300), (0, 50), (1, 2000), (0, 50))
    ref, _ = feed(levels)
    assert ref == [[17 + 300 + DEB, bt.PRESS], [367 + DEB + LONG, bt.LONG]]
    assert feed(levels, start=time.ticks_add(0, start))[0] == ref


BOUNCE = st.lists(st.integers(1, DEB - 1), max_size=8)


@DET
@given(idle=st.integers(DEB + 1, 300), bounce_in=BOUNCE, held=st.integers(DEB + 1, 4000),
       bounce_out=BOUNCE, after=st.integers(DEB + 1, 300))
def test_bouncy_press(idle, bounce_in, held, bounce_out, after):
    """Contact bounce (segments shorter than debounce) around one real press."""
    def bounce(first, lengths):
        out, level = [], first
        for n in lengths:
            out += [level] * n
            level ^= 1
        return out
    press_start = idle + len(bounce(1, bounce_in))
    levels = [0] * idle + bounce(1, bounce_in)
    if levels[-1:] == [1]:           # an odd number of bounce segments ended high: drop back
        levels.append(0)
        press_start += 1
    levels += [1] * held
    release = len(levels)
    out = bounce(0, bounce_out)
    levels += out + [0] * after
    events, b = feed(levels)
    assert not b.down
    down_at = press_start + DEB
    if held - DEB > LONG + 1:
        # held long enough: exactly one LONG, on time, and no PRESS on release
        assert events == [[down_at + LONG, bt.LONG]]
    elif held + len(out) < LONG:
        # released before long_ms: exactly one PRESS, once the release is stable for DEB
        last_change = max(i for i in range(1, len(levels)) if levels[i] != levels[i - 1])
        assert events == [[last_change + DEB, bt.PRESS]]
    else:
        assert len(events) == 1          # around the boundary: one event, either kind


@DET
@given(levels=st.lists(st.integers(1, DEB), min_size=1, max_size=60), first=st.booleans())
def test_chatter_never_makes_an_event(levels, first):
    """However long it goes on, a contact that never rests for debounce_ms does nothing."""
    seq, level = [], int(first)
    for n in levels:
        seq += [level] * n
        level ^= 1
    events, b = feed([0] * (DEB + 5) + seq)
    assert events == [] and not b.down


def test_same_events_under_micropython(micropython):
    code = r'''
import json, time
import button as bt
levels = []
for level, n in ((0, 40), (1, 3), (0, 5), (1, 200), (0, 2), (1, 1), (0, 60), (1, 29), (0, 40),
                 (1, 2500), (0, 4), (1, 4), (0, 100), (1, 80), (0, 100)):
    levels += [level] * n
out = []
for start in (0, time.ticks_add(0, -900)):
    b = bt.Button()
    ev = []
    for i in range(len(levels)):
        e = b.update(time.ticks_add(start, i), levels[i] == 1)
        if e:
            ev.append([i, e])
    out.append(ev)
print(json.dumps(out))
'''
    a, b = both(micropython, code)
    assert a == b
    assert [e for _t, e in a] == [bt.PRESS, bt.LONG, bt.PRESS]
