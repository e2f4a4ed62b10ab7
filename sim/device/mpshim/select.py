# MicroPython only: shadows the built-in `select`. asyncio waits here for its next task; instead
# of blocking, the wait lets simulated time pass on the virtual board. Objects registered for
# polling (asyncio.ThreadSafeFlag and other ioctl streams) are asked whether they are ready.
import simctx

POLLIN = 1
POLLPRI = 2
POLLOUT = 4
POLLERR = 8
POLLHUP = 16
_MP_STREAM_POLL = 3


class _Poll:
    def __init__(self):
        self._objs = {}

    def register(self, obj, mask=POLLIN | POLLOUT):
        self._objs[id(obj)] = [obj, mask]

    def unregister(self, obj):
        self._objs.pop(id(obj), None)

    def modify(self, obj, mask):
        self._objs[id(obj)][1] = mask

    def _ready(self):
        out = []
        for entry in self._objs.values():
            ev = entry[0].ioctl(_MP_STREAM_POLL, entry[1])
            if ev:
                out.append((entry[0], ev))
        return out

    def ipoll(self, timeout=-1, flags=0):
        board = simctx.board
        board.check_loop()
        ready = self._ready() if self._objs else None
        if ready or timeout == 0:
            return ready or ()
        if timeout > 0 and not self._objs:
            board.advance(timeout)
            return ()
        # wait in 1 ms steps so a flag set by an interrupt is seen when it happens
        waited = 0
        while timeout < 0 or waited < timeout:
            board.advance(1)
            waited += 1
            ready = self._ready()
            if ready:
                return ready
        return ()

    def poll(self, timeout=-1):
        return list(self.ipoll(timeout))


def poll():
    return _Poll()
