# Optional SSD1306 OLED (128x64, I2C): target, remaining time, phase, a bar per chamber, and
# the fault code (else the manifold's pressure). A small driver of our own over any object with
# writeto(addr, buf) (machine.I2C on the device, the simulator's on a computer). Drawn by the
# service task, never the control loop: a full frame is about 25 ms of I2C at 400 kHz.
import framebuf

WIDTH = 128
HEIGHT = 64
_INIT = (0xAE, 0x20, 0x00, 0xA8, 0x3F, 0xD3, 0x00, 0x40, 0xA1, 0xC8, 0xDA, 0x12, 0x81, 0xCF,
         0xD9, 0xF1, 0xDB, 0x40, 0xA4, 0xA6, 0xD5, 0x80, 0x8D, 0x14, 0xAF)
BAR_TOP = 20
BAR_BOTTOM = 54


class Display:
    def __init__(self, i2c, address=0x3C):
        self._i2c = i2c
        self._addr = address
        self._buf = bytearray(WIDTH * HEIGHT // 8 + 1)
        self._buf[0] = 0x40                         # data follows
        self._fb = framebuf.FrameBuffer(memoryview(self._buf)[1:], WIDTH, HEIGHT,
                                        framebuf.MONO_VLSB)
        self._cmd = bytearray(2)
        for c in _INIT:
            self._command(c)

    def _command(self, c):
        self._cmd[0] = 0x00                         # a command follows
        self._cmd[1] = c
        self._i2c.writeto(self._addr, self._cmd)

    def show(self):
        for c in (0x21, 0, WIDTH - 1, 0x22, 0, HEIGHT // 8 - 1):   # the whole screen
            self._command(c)
        self._i2c.writeto(self._addr, self._buf)

    def draw(self, snap, chamber_mmhg, scale_mmhg, menu=None, notice=""):
        """snap: App.snapshot(); chamber_mmhg: what each chamber holds; menu: (item, value);
        notice: a line for the user while idle and healthy (a refused program: the warning
        event says why)."""
        fb = self._fb
        fb.fill(0)
        rem = snap["remaining_s"]
        fb.text("%3d mmHg" % snap["target_mmhg"], 0, 0, 1)
        if rem:
            fb.text("%2d:%02d" % (rem // 60, rem % 60), 88, 0, 1)
        if menu:
            fb.text("SETTINGS", 0, 12, 1)
            fb.text(menu[0][:16], 0, 28, 1)
            fb.text(str(menu[1])[:16], 0, 40, 1)
            self.show()
            return
        # a latched fault is not "idle": the session was stopped by it
        phase = "STOPPED" if snap["fault"] != "NONE" and snap["phase"] == "idle" else \
            snap["phase"].upper()
        if snap["chamber"]:
            phase += " %d" % snap["chamber"]
        fb.text(phase, 0, 10, 1)
        n = len(chamber_mmhg)
        w = WIDTH // n
        for i in range(n):
            x = i * w + 2
            fb.rect(x, BAR_TOP, w - 4, BAR_BOTTOM - BAR_TOP, 1)
            if chamber_mmhg[i] < 0:
                # not known to be empty (VENT_FAILED): a cross, not an empty bar
                fb.line(x, BAR_TOP, x + w - 5, BAR_BOTTOM - 1, 1)
                fb.line(x, BAR_BOTTOM - 1, x + w - 5, BAR_TOP, 1)
                continue
            h = min(BAR_BOTTOM - BAR_TOP, (BAR_BOTTOM - BAR_TOP) * chamber_mmhg[i] // scale_mmhg)
            if h > 0:
                fb.fill_rect(x, BAR_BOTTOM - h, w - 4, h, 1)
        if snap["fault"] != "NONE":
            fb.fill_rect(0, 56, WIDTH, 8, 1)
            fb.text(snap["fault"][:16], 0, 56, 0)
        elif notice and snap["phase"] == "idle":
            fb.text(notice[:16], 0, 56, 1)
        else:
            # the one sensor is on the manifold: about 0 in a hold while the chambers keep
            # their air (the bars show what each holds), so it says whose pressure it is
            fb.text("manifold %5.1f" % snap["p_mmhg"], 0, 56, 1)
        self.show()
