# The one table of limits. Every number that keeps a leg safe lives here, with its unit and
# where it comes from (see ../shared/REFERENCE.md and docs/SAFETY.md). Board files and settings
# are checked against this table when they load; nothing may widen it at run time.
#
# Board limits and settings: name -> (lowest allowed, highest allowed, default, why).
BOARD_LIMITS = {
    # Over-pressure trip on the manifold transducer. 250 mmHg is the top of home devices.
    "ceiling_mmhg": (40, 250, 150, "first sample above it trips: pump off, every vent open"),
    # Highest target a user may set; must sit at least CEILING_MARGIN_MMHG below the ceiling.
    "max_target_mmhg": (20, 230, 120, "Normatec tops out at 110, research uses about 80"),
    # Longest session the board allows; 60 min is the longest session seen on devices.
    "max_session_min": (5, 60, 60, "sessions of 10 to 60 min are what devices offer"),
}

SETTING_LIMITS = {
    # target pressure for each chamber; upper bound is the board's max_target_mmhg
    "pressure_mmhg": (20, 230, 80, "80 mmHg is the research and recovery standard"),
    # session length; upper bound is the board's max_session_min
    "minutes": (1, 60, 20, "20-30 min is the usual recovery session"),
    # hold with every chamber full, then all vent; a 45-60 s cycle in all
    "hold_s": (0, 30, 10, "cycle of 45-60 s per wave (RecoveryPump, JetBoots)"),
    # rest lets the veins refill before the next wave; its floor is LETDOWN_MIN_S below
    "rest_s": (15, 60, 25, "every chamber let down at least 15 s between two squeezes"),
    # programs (firmware/program.py)
    "gradient_step_mmhg": (0, 20, 8, "Kamm et al. 1986: 5-10 mmHg less per chamber up the leg"),
    "boost_chamber": (1, 8, 3, "the chamber zone boost favours; at most the board's chambers"),
    "boost_mmhg": (0, 30, 10, "extra pressure on the boosted chamber, within the max target"),
    "boost_hold_s": (0, 30, 5, "extra hold on the boosted chamber"),
    "warmup_cycles": (1, 10, 3, "waves to ramp from 60 % to the target"),
    "pulse_release_pct": (20, 90, 50, "a chamber lets down to this share once the next is full"),
}
NET_HEAP_KB = 32              # the connected boot's heap over the boot without the network
                             # (netstart.py). Measured on the 32-bit build (boot-sim bench,
                             # heap_32bit, 2026-12-01): 24.3 KB from .mpy, 7.1 KB frozen; the
                             # larger with a third over for the link's buffers at their peak
FILE_MAX_BYTES = 8192         # a board, settings, program or secrets file (filecheck.py): the
                             # shipped ones are under 2 KB; a bigger one is read whole into a
                             # heap of about 60 KB, so it is refused, not read
# A first start (no settings.json) or a damaged settings file starts low (issue 13): never the
# table's 80 mmHg default, and never above a pressure or a length the file still shows. 40 mmHg
# is where the README tells a new user to start ("start low and increase gradually"; the low
# end of recovery use, 40-80 mmHg: ../shared/REFERENCE.md); 10 min is the shortest session
# devices offer (10-60 min), cut to the board's max_session_min if that is shorter.
START_MMHG = 40
START_MINUTES = 10
# Flags in the settings file: name -> default.
SETTING_FLAGS = {
    "tuning": True,       # learn each chamber's overshoot and stop the pump early by it
    "fit_check": True,    # fill each chamber a little at start and check the garment and hoses
}

# Fixed safety figures (not configurable).
CEILING_MARGIN_MMHG = 20      # max_target_mmhg + margin <= ceiling_mmhg
ABS_CEILING_MMHG = 250        # no board may set a higher ceiling
ABS_SESSION_MIN = 60          # no session may last longer
SAFE_MMHG = 15                # "vented": IEC 60601-2-30 cuff release level
VENT_BUDGET_MS = 5000         # every chamber below SAFE_MMHG within this after a trip or stop
SESSION_GRACE_MS = 15000      # the supervisor trips if a session outlives its length by this
MAX_ZERO_OFFSET_MMHG = 12     # zero reading further from 0 than this: refuse to start
ZERO_DRIFT_DMMHG = 10         # zero window's halves 1 mmHg apart: air is moving, no zero
ZERO_REPEAT_DMMHG = 50        # a new zero 5 mmHg from this boot's last: air trapped (a dump that
                              # did not open) or a drifting sensor, no zero
# Let-down (issue 17, part 1): nerve palsy and compartment syndrome under pneumatic compression
# came from long squeezes with little release in legs that could not feel it; clinical
# controllers wait for the veins to refill before the next squeeze (Kendall SCD: about 60 s).
LETDOWN_MIN_S = 15            # every chamber below SAFE_MMHG at least this long between two of
                              # its squeezes (a rest shorter than this is refused at load)
MAX_PRESSED_PCT = 70          # and above SAFE_MMHG at most this share of a session: the
                              # sequencer lengthens the rest when a wave's fills and hold would
                              # break it; the monitor trips TIME_AT_PRESSURE as a last line
GRADIENT_SLACK_MMHG = 3       # within a wave no chamber is filled more than this above the
                              # chamber below it (higher up the leg pushes fluid back down),
                              # except a chamber a program boosts on purpose
CHAMBERS_MIN = 1
CHAMBERS_MAX = 8
DUMPS_MAX = 3                 # dump valves a board may list (a second vent path: issue 17)
# Crossed hoses (fitorder.py): a garment chamber stated this much bigger (board file
# garment.chamber_ml) that filled to 10 mmHg at the fit check this much faster than the smaller
# one: its valve feeds another chamber. A warning. (Plant, 300/500/700/900 mL: fit times 0.50,
# 0.77, 1.04, 1.26 s; 1 and 4 crossed: 1.45 and 0.44 s.)
FIT_ORDER_SIZE_PCT = 130
FIT_ORDER_TIME_PCT = 120
# A fill that has not reached its target after this long has a leak, a dead pump or a loose hose.
FILL_TIMEOUT_MS = 20000
# Sensor plausibility: volts at the transducer output outside
# [v_at_zero - SENSOR_MARGIN_V, v_at_full_scale + SENSOR_MARGIN_V] mean a broken wire or a short.
SENSOR_MARGIN_V = 0.25
SENSOR_BAD_SAMPLES = 4        # consecutive out-of-window samples that trip (Klipper adccmds.c)
# The chip's ADC (issue 12; docs/PLANT.md, "The chip's ADC"): ADC.read_uv() never reports less
# than its calibration's floor, so an open transducer wire (the divider's lower leg pulls the
# pin to 0 V) reads the floor, not 0. Per board file "mcu", the highest floor reported: the
# classic ESP32's line fitting maps raw 0 to 142 mV at 11 dB (107-142 mV by chip); the S3's
# curve fitting is within 50 mV from 0 V (its datasheet, 12 dB). Above the knee the reading
# flattens: a ceiling there would read low.
ADC_FLOOR_V = {"esp32": 0.142, "esp32s3": 0.05}
ADC_KNEE_V = {"esp32": 2.45, "esp32s3": 2.9}
ADC_FLOOR_GUARD_V = 0.025     # the window's low edge sits at least this far above the floor
                              # (an open wire reads the floor plus a few mV of noise)
ADC_ZERO_ABOVE_FLOOR_V = 0.1  # a board's 0 mmHg must put at least this over the floor on the pin
                              # (else the window between them is too thin: a board design error)
# Hazard monitor (firmware/monitor.py); pressures in tenths of a mmHg ("dmmhg")
FILL_IGNORE_MS = 60            # a fill's first ticks: the manifold is still equalising
FILL_PROGRESS_DMMHG = 10       # a fill must gain 1 mmHg ...
FILL_STALL_MS = 1500           # ... every 1.5 s, else NO_RISE (pump dead, hose off, big leak)
FILL_BUDGET_FACTOR = 2         # a fill may take twice the chamber's learned fill time
FILL_BUDGET_MIN_MS = 2000
FAST_RISE_DMMHG_PER_TICK = 80  # 8 mmHg in one tick (800 mmHg/s): air going nowhere (normal < 250)
PUMP_OFF_RISE_DMMHG = 50       # pump off, dump closed: a 5 mmHg climb means the pump runs
PUMP_OFF_SETTLE_MS = 150       # after the pump stops it coasts and the manifold equalises
PROBE_EVERY_MS = 1000          # while the pump should be off, check it is, this often
PROBE_MS = 40                  # the check: every path closed for this long
IDLE_PROBE_EVERY_MS = 1800     # idle too, a little less often (every valve clicks at each
                               # probe: 2000 times an hour; power the boot off when unused)
PUMP_CLIMB_DMMHG_PER_TICK = 30 # still climbing 3 mmHg a tick two ticks on: the pump
                               # (weakest tested pump: 11 a tick; a valve letting air back: ~0)
HOLD_DRAIN_MS = 50             # hold: the manifold drains through the dump in this long ...
HOLD_BUMP_DMMHG = 50           # ... then a 5 mmHg bump is a valve letting go, or the pump (a pump
                               # stuck on blows 1.3 mmHg through the open dump, 2.2 at 130 %,
                               # 5 at 190 %; 0.5 L at 80 mmHg letting go: a 20 mmHg bump)
VALVE_CHECK_RISE_DMMHG = 50    # a check puff lifting the manifold 5 mmHg: valve stuck shut
ACK_PROBE_MS = 100             # acknowledging a fault: every path closed, pump off: no climb;
ACK_CONTROL_MS = 30            # then every path closed, a puff this long at most: the sealed
                               # manifold must climb VALVE_CHECK_RISE (pump 50 %: in 20 ms);
ACK_PUFF_MS = 200              # then a longer puff per chamber in use ...
ACK_AIR_DMMHG = 6              # ... that must lift the reading 0.6 mmHg over two readings (air
                               # seen arriving), and not by 5 mmHg within its first 40 ms (valve
                               # shut). Plant: 1.1 mmHg worst (1.5 L, pump 50 %), a dead pump
                               # 0.4 (noise); confirm on a real boot (HARDWARE.md)
FROZEN_SAMPLES = 20            # identical raw readings in a row while pumping (200 ms)
PUMP_SILENT_DMMHG = 25         # a fill that never read 2.5 mmHg: the pump gave no air (a dead
                               # pump coasting to a stop gives 1-2; a hose off reads 2-6 mmHg
                               # from the pump's flow, so a weak pump's may count as silent)
CHECK_AIR_DMMHG = 6           # the valve check after a vent must see a puff lift the manifold
                              # 0.6 mmHg over the puff's first reading, twice in a row (an open
                              # empty chamber: 1.0-1.2 mmHg at half a pump into 0.3 L; a dead
                              # pump: noise, 0.3 mmHg sigma, or a manifold still draining), or
                              # a chamber that had air cannot be proven open: VENT_FAILED
IMPOSSIBLE_LOW_DMMHG = -80     # below -8 mmHg (zeroed): no air makes that, a sensor step does
IMPOSSIBLE_LOW_TICKS = 3       # ... for this many readings in a row (30 ms)
FILL_FALL_DMMHG = 50           # filling an open chamber, a fall of 5 mmHg in one tick ...
FILL_FALL_NEXT_DMMHG = -10     # ... then a next tick that does not fall on (by 1 mmHg): the
                               # sensor stepped (air escaping, a hose off, keeps falling: plant
                               # 2.2 mmHg or more on the next tick)
HOLD_LOSS_WARN_MMHG_PER_MIN = 10   # hold watch (holdwatch.py): a chamber losing this fast behind
HOLD_LOSS_MIN_MMHG = 4         # its closed valve, and this much in all, is announced (a tight
                               # bladder loses 1-4 mmHg/min; the peek reads within 0.5 mmHg,
                               # 1 sigma)
HOLD_LOSS_FAULT_MMHG = 10      # ...and one read more than this below its target at two peeks
                               # in a row is HOLD_LOSS (a leak repeats; a leg that shifted off
                               # a load taken through the fill does not: once, a warning)
HOLD_OVER_MMHG = 10            # one read more than this above what it was left at is pressed
                               # from outside (lying on it, the other leg): a warning
SLOW_RISE_PCT = 60             # a fill that has pumped as long as the chamber's learned fill
                               # (this session, from the second wave) reads under this share of
                               # what that fill reached (near its end a fill climbs steeply: a
                               # pump 7 % weaker reads 88 %; 60 % allows about 20 %) ...
SLOW_RISE_FLOOR_PCT = 20       # ... yet above this share (nothing at all is NO_RISE's) ...
SLOW_RISE_RATE_PCT = 25        # ... and still climbing at this share of the learned mean rate
                               # (a leak the pump cannot outrun levels off: NO_RISE's): the
                               # sensor's span is off (it sees less than the air there is)
SLOW_RISE_WINDOW_MS = 300      # the climb is measured over this long
DRIFT_SETTLE_MS = 2000         # fully open this long in a rest: the sensor must read zero ...
DRIFT_DMMHG = 50               # ... within 5 mmHg ...
DRIFT_CONFIRM_MS = 500         # ... for this long, else SENSOR_DRIFT
MAX_AT_PRESSURE_MS = 170000    # a full vent at least this often (IEC 60601-2-30: 180 s)
# A wave is planned to fit inside it (waveplan.py; issue 13): from its first fill to its vent
# (the fills, the chambers' dwells and releases, the hold) at most WAVE_PLAN_MS, leaving
# 20 s for the vent to read let down before MAX_AT_PRESSURE_MS trips. A program or mode
# setting over it is refused at load (figured with every fill at FILL_PLAN_MS: the reference
# boot, 0.5 L chambers at 80 mmHg, fills one in 2.9 s; 1.5 L at 120 mmHg on a half-strength
# pump, 19 s). At run time the sequencer shortens dwells and the hold to keep the plan with
# the fills it has timed, and starts no fill that its budget could carry past
# MAX_AT_PRESSURE_MS - WAVE_VENT_ALLOW_MS: the wave goes on to its vent without it.
WAVE_PLAN_MS = 150000
FILL_PLAN_MS = 5000
WAVE_VENT_ALLOW_MS = 15000     # a vent reads let down within 2 s (0.5-1.5 L chambers; 8 s is
                               # the sequencer's VENT_MAX_MS)
POST_CHECK_BY_MS = 3500       # after a trip the valve check starts by this time at the latest,
                              # so 8 chambers' puffs (160 ms each) end within VENT_BUDGET_MS
WDT_TIMEOUT_MS = 250           # hardware watchdog (RespiraWorks 250 ms; Klipper ~500 ms)
FAULT_LOG_ENTRIES = 20         # the fault log on flash keeps the newest this many
USAGE_LOG_ENTRIES = 100        # and the usage log this many sessions (appended, one line a
                               # session; at this many lines it becomes usage.old and a new one
                               # starts: readers show the newest this many of the two)
# Flash and console (flash writes stall the whole chip: flashfs.py, console.py, SAFETY.md)
REST_WDT_MS = 2000             # the watchdog while the service task writes flash or a USB
                               # console in a rest window (every output released), flash or
                               # the console, never both. The longest window: a fault record,
                               # the log's copy (at most 2 sectors: FAULT_LOG_ENTRIES lines,
                               # under 8 KB) and its rename (1), 3 x 400 ms (the datasheet's
                               # worst) = 1.2 s; the console's: CONSOLE_REST_MS of writes and
                               # one more that times out, 200 + 500 = 0.7 s. 2 s leaves 0.8 s
                               # over the worst (reads, JSON, the supervisor's check: ms);
                               # back to WDT_TIMEOUT_MS as the window closes
REST_MARGIN_MMHG = 50          # ... only while the manifold reads this far below the ceiling
                               # (a pump stuck on and the dump stuck shut: the open chambers
                               # climb about 20 mmHg/s, SAFETY.md defence 4; isolation acts at
                               # the ceiling)
FLASH_JOBS = 16                # flash calls waiting for a rest window; more: the newest lost
CONSOLE_LINES = 32             # console lines waiting for the service task; more: dropped,
                               # counted
CONSOLE_RUN_BYTES = 128        # UART: written per service run: the FIFO's size (it drains in
                               # 11 ms at 115200 baud; past it a write waits in 10 ms steps)
CONSOLE_REST_BYTES = 4096      # USB: written per rest window while the host reads ...
CONSOLE_REST_MS = 200          # ... and no more writes once a window has written this long (a
                               # host reading slowly, 90 ms a write, took 2 s for 4 KB)
CONSOLE_SLOW_MS = 100          # USB: a write that took this long: the host is not reading ...
CONSOLE_RETRY_RUNS = 50        # ... try again after this many service runs (5 s)
BUTTON_STALL_MS = 30           # a button's active edge (a pin interrupt) this old when the
                               # control tick first polls after it: the polls were held up (a
                               # rest window's stall; they are TICK_MS apart) ...
BUTTON_LATCH_READS = 5         # ... and it reads as pressed for this many polls, so a press
                               # made and released inside the stall is still seen: 5 polls at
                               # least TICK_MS apart span 40 ms, past the debounce (button.py:
                               # 30 ms)
# Control timing
TICK_MS = 10                  # control period: read, check, decide, drive
STATUS_MS = 1000              # console status line period
HEARTBEAT_MS = 150            # supervisor trips if the control loop has not ticked this long
                              # (before the watchdog's WDT_TIMEOUT_MS runs out)
SERVICE_HEARTBEAT_MS = 500    # the service task runs every 100 ms (a flash write of tens of ms
                              # may delay it): 5 runs missed is dead, not slow; dead to reset
                              # within this + WDT_TIMEOUT_MS = 0.75 s
NET_HEARTBEAT_MS = 700        # a network service (MQTT) waits in steps of at most 500 ms and
                              # beats at each; + a loop held up to HEARTBEAT_MS still passes;
                              # dead to reset within 0.95 s
LOOP_HELD_MS = 100            # the supervisor's own runs (every 50 ms) this far apart: the
                              # whole loop was held up (a stall), no one task is to blame
# Maintenance mode (firmware/maint.py, issue 15): the builder's computer drives one primitive at
# a time over the console; the supervisor, the ceiling, the interlock and the watchdog stay.
MAINT_PUMP_MAX_MS = 300       # one pump request runs at most this long, then stops by itself
                              # (a 0.5 L chamber to 40 mmHg takes about 1.4 s: several requests)
MAINT_PUMP_MAX_MMHG = 60      # the pump stops at, and is refused from, this manifold reading:
                              # commissioning fills to 40 mmHg (docs/HARDWARE.md, section 6);
                              # higher calibration points come from the gauge's bulb
MAINT_IDLE_MS = 5000          # no request this long (the cable pulled, the computer gone):
                              # every path open, pump off, maintenance over
MAINT_BULB_MAX_MMHG = 100     # the gauge's bulb (maint.bulb: the pump-off check rests) takes the
                              # shut manifold no higher: above, PUMP_STUCK_ON (a pump running on
                              # its own; its climb isolation armed as in a session). The tool
                              # asks a person for at most 90 (commission/steps.py); below the
                              # ceiling less REST_MARGIN_MMHG, so an S3's USB console still
                              # answers (it writes in rest windows only)
MAINT_HELD_MAX_MS = 60000     # not seen vented (every path open, below SAFE_MMHG) this long:
                              # vent and leave (a 30 s leak-down and its fill fit; far inside
                              # MAX_AT_PRESSURE_MS)
MODES = ("wave", "gradient", "boost", "pulse", "warmup", "custom")


def check_number(value, lo, hi, what):
    """Return an error text if value is not a number within [lo, hi], else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "%s must be a number from %s to %s, got %r" % (what, lo, hi, value)
    if value != value or value < lo or value > hi:  # value != value catches NaN
        return "%s must be from %s to %s, got %r" % (what, lo, hi, value)
    return None
