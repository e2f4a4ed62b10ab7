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
        self._files = None      # the interpreter's own poll, for files: the console's stdin

    def register(self, obj, mask=POLLIN | POLLOUT):
        if not hasattr(obj, "ioctl"):
            # a file (sys.stdin: maintlink.py reads the builder's computer on the console): no
            # ioctl to ask from Python; the interpreter's own poll asks the OS
            if self._files is None:
                import uselect      # (the built-in: this module shadows `select`)
                self._files = uselect.poll()
            self._files.register(obj, mask)
            hook = getattr(simctx, "on_stdin_poll", None)
            if hook is not None:
                hook()              # the virtual ESP32: the serial line goes to stdin now
            return
        self._objs[id(obj)] = [obj, mask]

    def unregister(self, obj):
        if self._objs.pop(id(obj), None) is None and self._files is not None:
            self._files.unregister(obj)

    def modify(self, obj, mask):
        self._objs[id(obj)][1] = mask

    def _ready(self):
        out = []
        for entry in self._objs.values():
            ev = entry[0].ioctl(_MP_STREAM_POLL, entry[1])
            if ev:
                out.append((entry[0], ev))
        if self._files is not None:
            out.extend(self._files.poll(0))
        return out

    def ipoll(self, timeout=-1, flags=0):
        board = simctx.board
        board.check_loop()
        watched = self._objs or self._files is not None
        ready = self._ready() if watched else None
        if ready or timeout == 0:
            return ready or ()
        if timeout > 0 and not watched:
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
