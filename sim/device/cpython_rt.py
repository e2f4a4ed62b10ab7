# CPython only: gives CPython the parts of MicroPython's API the firmware uses (time.ticks_*,
# time.sleep_ms, asyncio.sleep_ms) and an asyncio event loop that runs on the virtual board's
# clock: where the loop would wait, simulated time passes instead.
#
# Ticks wrap at 2**30, as on the ESP32 (chipclock.py), so a ticks arithmetic bug shows up here
# too. The event loop runs on the board's continuous clock (board.ms, less the idle actions'
# shelves).
import asyncio
import selectors
import time

import chipclock
import simctx

TICKS_PERIOD = chipclock.PERIOD["esp32"]
ticks_diff, ticks_add = chipclock.make_diff(TICKS_PERIOD)


async def _sleep_ms(ms):
    await asyncio.sleep(ms / 1000)


def _ticks_ms():
    return simctx.board.ticks_ms()


def _ticks_us():
    return simctx.board.ticks_us()


def _blocking_sleep_ms(ms):
    if ms > 0:
        simctx.board.advance(ms)


def install_ticks():
    """Add MicroPython's time and asyncio extras to CPython's modules. ticks_ms and sleep_ms
    read the virtual board attached to simctx, whichever board that is at the time."""
    time.ticks_add = ticks_add
    time.ticks_diff = ticks_diff
    time.ticks_ms = _ticks_ms
    time.ticks_us = _ticks_us
    time.sleep_ms = _blocking_sleep_ms
    asyncio.sleep_ms = _sleep_ms


class _Selector(selectors.SelectSelector):
    def __init__(self, board):
        super().__init__()
        self._board = board

    def select(self, timeout=None):
        self._board.check_loop()
        if timeout is None:
            # nothing scheduled: let time pass until something happens or the run ends
            while not (self._board.ended or self._board.in_reset):
                self._board.advance(10)
            return []
        if timeout > 0:
            self._board.advance(max(1, round(timeout * 1000)))
        return []


class _Loop(asyncio.SelectorEventLoop):
    def __init__(self, board):
        super().__init__(_Selector(board))
        self._board = board
        self._clock_resolution = 1e-4

    def time(self):
        # without an idle action's shelf, as the MicroPython loop's clock (vboard.loop_ticks_ms)
        return (self._board.ms - self._board.shelf_ms) / 1000.0

    def call_exception_handler(self, context):
        # after a reset the old firmware is gone: asyncio's shutdown must not run its handler
        if not self._board.in_reset:
            super().call_exception_handler(context)


class _Policy(asyncio.DefaultEventLoopPolicy):
    def __init__(self, board):
        super().__init__()
        self._board = board

    def new_event_loop(self):
        return _Loop(self._board)


def install(board):
    """Run the firmware's time and asyncio on the virtual board's clock."""
    install_ticks()
    asyncio.set_event_loop_policy(_Policy(board))
