# Rotary encoder (quadrature, like the KY-040): a full-state decoder fed from pin interrupts.
#
# The interrupt handler only reads two pins, looks up a table and adds a small integer: no
# allocation, safe as a hard interrupt. The control task takes whole detents with take().
# Contact bounce on one channel steps back and forth and cancels out; a missed edge shows as
# both channels changing at once and is ignored, so an error is never more than the detents
# that lost edges, and the count cannot run away.

# (previous state << 2 | new state) -> transition + 1; state = A << 1 | B.
# Clockwise: 00 -> 01 -> 11 -> 10 -> 00.
_STEP = b"\x01\x02\x00\x01\x00\x01\x01\x02\x02\x01\x01\x00\x01\x00\x02\x01"
_PER_DETENT = 4


class Quadrature:
    def __init__(self, a_level=1, b_level=1):
        self.state = (a_level << 1) | b_level
        self.transitions = 0        # signed, updated only by update()
        self._reported = 0          # detents already handed out

    def update(self, a, b):
        """Both channels' levels after an edge (called from the pin interrupt)."""
        new = (a << 1) | b
        self.transitions += _STEP[(self.state << 2) | new] - 1
        self.state = new

    def take(self):
        """Whole detents since the last call (signed). A detent counts at 3 of its 4
        transitions and un-counts only 2 transitions back: a knob resting on the edge of a
        detent does not flicker."""
        t = self.transitions
        out = 0
        while t >= (self._reported + 1) * _PER_DETENT - 1:
            self._reported += 1
            out += 1
        while t <= (self._reported - 1) * _PER_DETENT + 1:
            self._reported -= 1
            out -= 1
        return out


class Encoder(Quadrature):
    """A Quadrature wired to two pins (any objects with value() and irq())."""

    def __init__(self, pin_a, pin_b, trigger):
        super().__init__(pin_a.value(), pin_b.value())
        self._a = pin_a
        self._b = pin_b
        pin_a.irq(handler=self._isr, trigger=trigger)
        pin_b.irq(handler=self._isr, trigger=trigger)

    def _isr(self, _pin):
        self.update(self._a.value(), self._b.value())
