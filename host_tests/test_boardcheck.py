"""Board files and their pin checks: every shipped board passes `boot-sim check-board` with no
error; a pump, valve or dump output on a strapping, flash, console or input-only pin is rejected
with a message naming the field and the GPIO; softer problems are warnings."""
import copy
import json

import pytest

from sim import boardcheck, paths
from sim.cli import main as boot_sim

import boardcfg

BOARD_FILES = sorted(paths.BOARDS.glob("*.json"))
ESP32 = json.loads((paths.BOARDS / "esp32-devkitc-4ch.json").read_text())
S3 = json.loads((paths.BOARDS / "esp32-s3-devkitc-6ch.json").read_text())


def with_pin(board, section, key, pin, index=None):
    b = copy.deepcopy(board)
    if index is None:
        b[section][key] = pin
    else:
        b[section][key][index] = pin
    return b


def write(tmp_path, board, name="board.json"):
    f = tmp_path / name
    f.write_text(json.dumps(board))
    return str(f)


def test_there_are_boards_for_both_chips():
    names = {f.stem for f in BOARD_FILES}
    assert {"esp32-devkitc-4ch", "esp32-s3-devkitc-6ch"} <= names
    assert S3["mcu"] == "esp32s3" and S3["chambers"] == 6


@pytest.mark.parametrize("board_file", BOARD_FILES, ids=lambda f: f.stem)
def test_every_shipped_board_is_valid_and_has_no_pin_error(board_file, capsys):
    cfg = boardcfg.load(str(board_file))
    errors, _ = boardcheck.check(cfg)
    assert errors == []
    assert boot_sim(["check-board", str(board_file)]) == 0
    assert ": ok: " in capsys.readouterr().out


def test_the_s3_board_keeps_off_pins_that_glitch_or_are_taken():
    pins = S3["outputs"]["valve_pins"] + [S3["outputs"]["pump_pin"], S3["outputs"]["dump_pin"],
                                          S3["inputs"]["button_pin"], S3["sensor"]["adc_pin"]]
    pins += list(S3["indicators"].values())
    avoid = {0, 3, 45, 46} | set(range(26, 38)) | {19, 20, 43, 44, 38, 48}
    assert not set(pins) & avoid
    assert 1 <= S3["sensor"]["adc_pin"] <= 10          # ADC1
    assert S3["outputs"]["active_high"]                  # pull-downs hold everything off


@pytest.mark.parametrize("pin", [0, 2, 5, 12, 15])
def test_check_board_rejects_a_valve_on_an_esp32_strapping_pin(tmp_path, capsys, pin):
    f = write(tmp_path, with_pin(ESP32, "outputs", "valve_pins", pin, index=1))
    assert boot_sim(["check-board", f]) == 2
    err = capsys.readouterr().err
    assert f"outputs.valve_pins[1] is GPIO{pin}, a strapping pin" in err
    assert "error" in err


@pytest.mark.parametrize("pin", [0, 3, 45, 46])
def test_check_board_rejects_a_pump_on_an_s3_strapping_pin(tmp_path, capsys, pin):
    f = write(tmp_path, with_pin(S3, "outputs", "pump_pin", pin))
    assert boot_sim(["check-board", f]) == 2
    assert f"outputs.pump_pin is GPIO{pin}, a strapping pin" in capsys.readouterr().err


@pytest.mark.parametrize("board,section,key,pin,index,words", [
    (ESP32, "outputs", "dump_pin", 35, None, "input only"),
    (ESP32, "outputs", "valve_pins", 7, 0, "flash memory"),
    (ESP32, "outputs", "valve_pins", 1, 2, "serial console"),
    (ESP32, "outputs", "pump_pin", 14, None, "PWM signal at boot"),
    (ESP32, "outputs", "pump_pin", 20, None, "does not exist"),
    (ESP32, "indicators", "led_pin", 36, None, "input only"),
    (ESP32, "display", "scl_pin", 34, None, "input only"),
    (S3, "outputs", "valve_pins", 30, 3, "flash memory"),
    (S3, "outputs", "valve_pins", 20, 0, "native USB"),
    (S3, "inputs", "button_pin", 43, None, "serial console"),
    (S3, "outputs", "dump_pin", 23, None, "does not exist"),
])
def test_pins_that_cannot_work_are_errors(board, section, key, pin, index, words):
    errors, _ = boardcheck.check(with_pin(board, section, key, pin, index))
    assert len(errors) == 1, errors
    assert f"GPIO{pin}" in errors[0] and words in errors[0]


@pytest.mark.parametrize("board,section,key,pin,index,words", [
    (ESP32, "inputs", "button_pin", 0, None, "strapping pin"),
    (ESP32, "inputs", "button_pin", 36, None, "no internal pull-up"),
    (ESP32, "indicators", "buzzer_pin", 2, None, "strapping pin"),
    (S3, "outputs", "valve_pins", 35, 5, "octal PSRAM"),
    (S3, "indicators", "led_pin", 48, None, "RGB LED"),
    (S3, "inputs", "button_pin", 19, None, "native USB"),
    (S3, "sensor", "adc_pin", 3, None, "strapping pin"),
])
def test_pins_that_need_care_are_warnings(board, section, key, pin, index, words):
    cfg = with_pin(board, section, key, pin, index)
    boardcfg.validate(cfg)
    errors, warnings = boardcheck.check(cfg)
    assert errors == []
    assert any(f"GPIO{pin}" in w and words in w for w in warnings), warnings


def test_warnings_are_printed_and_do_not_fail_the_check(tmp_path, capsys):
    b = with_pin(ESP32, "inputs", "button_pin", 0)
    b["outputs"]["active_high"] = False
    assert boot_sim(["check-board", write(tmp_path, b)]) == 0
    out = capsys.readouterr()
    assert "warning: inputs.button_pin is GPIO0" in out.err
    assert "warning: outputs.active_high is false" in out.err
    assert ": ok: " in out.out


def test_adc2_sensor_is_still_refused_by_the_firmware_check(tmp_path, capsys):
    f = write(tmp_path, with_pin(ESP32, "sensor", "adc_pin", 14))
    assert boot_sim(["check-board", f]) == 2
    assert "ADC1" in capsys.readouterr().err


def field_value(board, field):
    """Value of 'section.key' or 'section.key[i]' in a board dict; None if absent."""
    section, _, key = field.partition(".")
    index = None
    if key.endswith("]"):
        key, _, i = key[:-1].partition("[")
        index = int(i)
    value = board.get(section, {}).get(key)
    if index is not None:
        value = value[index] if value is not None and index < len(value) else None
    return value


def test_the_hardware_guide_pin_table_matches_the_board_files():
    """docs/HARDWARE.md's pin table: one column per shipped board, in this order."""
    text = (paths.ROOT / "docs" / "HARDWARE.md").read_text()
    rows = [line.split("|")[1:-1] for line in text.splitlines()
            if line.startswith("| `") and "_pin" in line]
    assert len(rows) >= 10
    for cells in rows:
        field = cells[0].strip().strip("`")
        for board, cell in zip((ESP32, S3), cells[2:4]):
            want = field_value(board, field)
            got = cell.strip()
            assert got == ("-" if want is None else str(want)), \
                f"docs/HARDWARE.md says {field} is {got} on {board['name']}, the board file {want}"


# --- issue 13: the modules people buy --------------------------------------------------------
# The 4-channel wiring as shipped before issue 13: valves 2 and 3 on GPIO16/17, stop on GPIO39.
OLD_4CH = with_pin(with_pin(with_pin(ESP32, "outputs", "valve_pins", 16, 1),
                            "outputs", "valve_pins", 17, 2), "inputs", "stop_pin", 39)


def test_the_old_4ch_wiring_on_a_wrover_devkitc_ve_is_an_error(tmp_path, capsys):
    board = dict(OLD_4CH, psram=True)          # an ESP32-DevKitC-VE: WROVER-E, 8 MB PSRAM
    assert boot_sim(["check-board", write(tmp_path, board)]) == 2
    err = capsys.readouterr().err
    for field, pin in (("outputs.valve_pins[1]", 16), ("outputs.valve_pins[2]", 17)):
        assert f"error: {field} is GPIO{pin}, which this board's module uses for its PSRAM" \
            in err and "micropython issue 7819" in err, err
    # the stop button on GPIO39 is read by interrupt: the erratum, as a warning
    assert "warning: inputs.stop_pin is GPIO39, which gets short false low pulses" in err
    assert "ESP32 errata 3.11" in err


def test_gpio16_and_17_on_a_classic_esp32_warn_when_the_file_does_not_say(tmp_path, capsys):
    assert boot_sim(["check-board", write(tmp_path, OLD_4CH)]) == 0
    out = capsys.readouterr()
    for field, pin in (("outputs.valve_pins[1]", 16), ("outputs.valve_pins[2]", 17)):
        assert f"warning: {field} is GPIO{pin}, which ESP32 WROVER modules" in out.err
    assert '"psram": true' in out.err and ": ok: " in out.out


@pytest.mark.parametrize("section,key,pin,index", [
    ("indicators", "led_pin", 16, None), ("indicators", "buzzer_pin", 17, None),
    ("inputs", "button_pin", 16, None), ("display", "sda_pin", 17, None),
    ("outputs", "pump_pin", 17, None), ("outputs", "valve_pins", 16, 3),
])
def test_any_use_of_the_psram_pins_is_judged(section, key, pin, index):
    cfg = boardcfg.validate(with_pin(ESP32, section, key, pin, index))
    errors, warnings = boardcheck.check(cfg)
    assert errors == [] and any(f"GPIO{pin}, which ESP32 WROVER" in w for w in warnings)
    errors, _ = boardcheck.check(dict(cfg, psram=True))
    assert len(errors) == 1 and f"GPIO{pin}, which this board's module uses" in errors[0]
    # an S3 has no such pins (its shipped board drives GPIO16 and 17)
    assert not any("PSRAM" in t and "GPIO1" in t for t in sum(boardcheck.check(S3), []))


def test_the_knob_on_gpio36_and_39_is_warned_of_the_stop_button_on_35_is_not(tmp_path, capsys):
    b = copy.deepcopy(ESP32)
    b["inputs"].update(encoder_a_pin=36, encoder_b_pin=39, stop_pin=35)
    assert boot_sim(["check-board", write(tmp_path, b)]) == 0
    err = capsys.readouterr().err
    for field, pin in (("inputs.encoder_a_pin", 36), ("inputs.encoder_b_pin", 39)):
        assert f"warning: {field} is GPIO{pin}, which gets short false low pulses while the " \
               "ADC or Wi-Fi is in use (ESP32 errata 3.11)" in err, err
        assert "detents nobody turned" in err
    assert "inputs.stop_pin is GPIO35, which gets" not in err


@pytest.mark.parametrize("key,pin", [("button_pin", 36), ("stop_pin", 39), ("encoder_a_pin", 39)])
def test_every_interrupt_input_on_36_or_39_names_the_erratum(key, pin):
    b = copy.deepcopy(ESP32)
    b["inputs"][key] = pin
    errors, warnings = boardcheck.check(boardcfg.validate(b))
    assert errors == []
    assert sum("errata 3.11" in w and f"inputs.{key} is GPIO{pin}" in w for w in warnings) == 1


def test_a_polled_input_on_36_or_39_is_not_warned_of_the_erratum():
    # the transducer's ADC pin is read, not taken by interrupt (an S3 has no such erratum)
    b = with_pin(ESP32, "sensor", "adc_pin", 36)
    assert not any("errata" in w for w in boardcheck.check(boardcfg.validate(b))[1])
    s3 = with_pin(S3, "inputs", "stop_pin", 39)
    assert not any("errata" in w for w in boardcheck.check(boardcfg.validate(s3))[1])


@pytest.mark.parametrize("board_file", [f for f in BOARD_FILES if "esp32-devkitc" in f.stem],
                         ids=lambda f: f.stem)
def test_the_shipped_esp32_boards_suit_a_wrover_and_the_erratum(board_file):
    cfg = boardcfg.load(str(board_file))
    errors, warnings = boardcheck.check(dict(cfg, psram=True))
    assert errors == []
    assert not any("PSRAM" in w or "errata" in w for w in warnings), warnings


def test_psram_is_a_checked_optional_board_field():
    assert boardcfg.validate(dict(ESP32, psram=True))["psram"] is True
    with pytest.raises(boardcfg.BoardError, match="field 'psram': must be true or false"):
        boardcfg.validate(dict(ESP32, psram="yes"))


# --- issue 13 (a new user): the advice and the S3's PSRAM -----------------------------------
def _advised(warning):
    """The GPIOs an erratum warning's advice names: (with a pull-up, needing one)."""
    advice = warning[warning.rindex("move it (") + 9:]
    clean, _, pull = advice.partition("; or ")
    pins = lambda text: [int(w[4:].strip(",;)")) for w in text.split()  # noqa: E731
                         if w.startswith("GPIO")]
    if "external" in clean:
        return [], pins(clean)
    return pins(clean), pins(pull)


@pytest.mark.parametrize("board_file", [f for f in BOARD_FILES if "esp32-devkitc" in f.stem],
                         ids=lambda f: f.stem)
@pytest.mark.parametrize("key", ["encoder_a_pin", "encoder_b_pin", "button_pin", "stop_pin"])
def test_the_erratum_advice_names_pins_free_and_suitable_on_that_board(board_file, key):
    b = json.loads(board_file.read_text())
    b["inputs"][key] = 36
    _, warnings = boardcheck.check(boardcfg.validate(b))
    said = [w for w in warnings if "errata 3.11" in w]
    assert len(said) == 1
    assert "polled" not in said[0] and "inputs without the erratum" not in said[0], said[0]
    clean, pull = _advised(said[0])
    assert clean or pull, said[0]
    used = {p for _, p, _ in boardcheck._roles(b)} - {36}
    for pin in clean + pull:
        assert pin not in used, (pin, said[0])
        moved = copy.deepcopy(b)
        moved["inputs"][key] = pin
        errors, warnings = boardcheck.check(boardcfg.validate(moved))
        mine = [w for w in warnings if w.startswith(f"inputs.{key} is GPIO{pin},")]
        assert errors == []
        if pin in clean:
            assert mine == [], mine
        else:
            assert len(mine) == 1 and "no internal pull-up" in mine[0], mine


def test_the_advice_for_the_stop_button_on_39_is_the_pin_it_left():
    b = copy.deepcopy(ESP32)
    b["inputs"]["stop_pin"] = 39
    said = [w for w in boardcheck.check(boardcfg.validate(b))[1] if "errata" in w]
    assert said[0].endswith("move it (free on this board: GPIO14)"), said
    b["inputs"]["encoder_a_pin"] = 36       # the knob's A leaves GPIO33: both are offered
    said = [w for w in boardcheck.check(boardcfg.validate(b))[1] if "errata" in w]
    assert all("free on this board: GPIO14, GPIO33" in w for w in said) and len(said) == 2


@pytest.mark.parametrize("pin", [33, 35, 36, 37])
def test_octal_psram_pins_on_an_s3_that_says_psram_are_an_error(pin):
    cfg = boardcfg.validate(with_pin(S3, "outputs", "valve_pins", pin, 5))
    errors, warnings = boardcheck.check(cfg)
    assert errors == []
    said = [w for w in warnings if f"GPIO{pin}" in w and "octal PSRAM" in w]
    assert len(said) == 1 and said[0].endswith('say "psram": true (then this is an error) '
                                               'and move it'), said
    errors, warnings = boardcheck.check(dict(cfg, psram=True))
    assert len(errors) == 1 and f"valve_pins[5] is GPIO{pin}, which the octal PSRAM uses" \
        in errors[0] and "quad PSRAM (R2" in errors[0], errors
    assert not any("PSRAM" in w for w in warnings)
    # the shipped S3 board keeps off them: it suits an octal-PSRAM module (N8R8, N16R8)
    errors, warnings = boardcheck.check(dict(boardcfg.validate(copy.deepcopy(S3)), psram=True))
    assert errors == [] and not any("PSRAM" in w for w in warnings)


# boot-sim run applies the same rules as check-board
def test_run_refuses_a_board_check_board_rejects_with_the_same_message(tmp_path, capsys):
    board = with_pin(ESP32, "outputs", "valve_pins", 16, 1)
    board["psram"] = True
    f = write(tmp_path, board)
    assert boot_sim(["check-board", f]) == 2
    checked = capsys.readouterr().err
    error = [x for x in checked.splitlines() if "error:" in x]
    assert len(error) == 1 and "GPIO16, which this board's module uses" in error[0]
    assert boot_sim(["run", "--board", f, "--quiet", "--minutes", "5"]) == 2
    out = capsys.readouterr()
    assert error[0] in out.err.splitlines(), out.err
    assert "not run: fix the board file" in out.err and "end:" not in out.out


def test_run_prints_a_board_warning_once_before_it_runs(tmp_path, capsys):
    f = write(tmp_path, with_pin(ESP32, "inputs", "button_pin", 0))
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"actions": [], "duration_s": 3}))
    assert boot_sim(["run", "--board", f, "--scenario", str(scenario), "--quiet"]) == 0
    out = capsys.readouterr()
    lines = out.err.splitlines()
    said = [i for i, x in enumerate(lines) if "warning: inputs.button_pin is GPIO0" in x]
    started = [i for i, x in enumerate(lines) if x.startswith("boot-sim: ")]
    assert len(said) == 1 and started and said[0] < started[0], out.err
    assert "end: not_started" in out.out


def test_a_knob_module_with_its_own_pull_ups_is_no_warning():
    # the new user's case: the stock DevKitC board warned of GPIO35's missing pull-up at every
    # check and every run, though its KY-040 knob pulls A and B up itself
    cfg = boardcfg.load(str(paths.DEFAULT_BOARD))
    assert cfg["inputs"]["encoder_pullups"] is True
    _, warnings = boardcheck.check(cfg)
    assert not [w for w in warnings if "pull-up" in w], warnings
    bare = copy.deepcopy(cfg)
    bare["inputs"]["encoder_pullups"] = False
    _, warnings = boardcheck.check(bare)
    assert [w for w in warnings if "encoder_b_pin" in w and "pull-up" in w], warnings
