# Status light and buzzer patterns: pure functions of the time and the state.
# Priorities follow IEC 60601-1-8: high priority flashes about 2 Hz with bursts of 10 beeps
# every 3 s; medium flashes about 0.6 Hz with 3 beeps every 10 s. Distinct, so a single-colour
# LED still tells the states apart.
from time import ticks_diff

IDLE = 0
RUNNING = 1
PAUSED = 2
ALARM_MEDIUM = 3
ALARM_HIGH = 4

# state: (LED period ms, LED on ms)
_LED = ((2000, 100),      # idle: a short blink every 2 s
        (1000, 1000),     # running: steady
        (1000, 500),      # paused: 1 Hz
        (1600, 800),      # medium alarm: 0.6 Hz
        (500, 250))       # high alarm: 2 Hz
# state: (burst period ms, beeps per burst); a beep is 100 ms on, 100 ms off
_BUZZ = ((0, 0), (0, 0), (0, 0), (10000, 3), (3000, 10))
# Power-on self-test, from the first control tick (the outputs are already safe): a chirp and
# a steady light longer than the idle blink, so a user notices a dead buzzer or LED.
SELFTEST_BUZZ_MS = 100
SELFTEST_LED_MS = 500


def led(now_ms, since_ms, state):
    period, on = _LED[state]
    return 1 if ticks_diff(now_ms, since_ms) % period < on else 0


def buzzer(now_ms, since_ms, state):
    period, beeps = _BUZZ[state]
    if not beeps:
        return 0
    t = ticks_diff(now_ms, since_ms) % period
    return 1 if t < beeps * 200 and t % 200 < 100 else 0
