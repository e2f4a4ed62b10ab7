"""Pin checks for a board file, beyond what the firmware's boardcfg.py enforces.

boardcfg.py (on the device) checks types, ranges, duplicates and that the sensor is on an ADC1
pin. This module knows the chips' pin quirks and is run by `boot-sim check-board` and
tools/flash.sh on the computer, before anything is flashed:

- error: the pin cannot work in that role (does not exist, belongs to the flash chip, is input
  only but drives an output, carries the serial console), or a pump/valve/dump output sits on a
  pin that glitches at reset (strapping and USB pins), which would pulse air into a leg or
  keep a vent shut while the chip boots;
- warning: the pin works but needs care (a strapping pin on an indicator or an input, octal
  PSRAM pins, no internal pull-up, the on-board RGB LED, active-low outputs);
- modules (issue 13): GPIO16 and 17 of a classic ESP32 are the PSRAM's on WROVER modules (the
  DevKitC-VE and many clones), and GPIO33-37 of an ESP32-S3 the octal PSRAM's (and octal
  flash's) on the modules that have it (WROOM-1 N8R8, N16R8; every WROOM-2): a warning on any
  board, an error when the board file says "psram": true (on an S3 that means octal PSRAM: a
  quad PSRAM, R2 in the module's name, takes no pin beyond the flash's); and GPIO36 and 39 see
  false low pulses (ESP32 errata 3.11), a warning for the inputs the firmware reads by pin
  interrupt (firmware/board.py: every input it has), naming the pins free on that board that
  would suit.

check(cfg) takes a board dict that boardcfg.validate() accepted and returns (errors, warnings),
each a list of one-line texts that name the field and the GPIO.
"""

# pin -> why it is a strapping pin (sampled at reset; driven by the boot ROM)
_STRAPPING = {
    "esp32": {
        0: "selects the boot mode (low at reset: download mode; it is the BOOT button)",
        2: "selects the boot mode (must be low or floating to download)",
        5: "sets SDIO timing and outputs a PWM signal at boot",
        12: "sets the flash voltage (MTDI): high at reset means 1.8 V flash and no boot",
        15: "controls the boot log (MTDO) and outputs a signal at boot",
    },
    "esp32s3": {
        0: "selects the boot mode (low at reset: download mode; it is the BOOT button)",
        3: "selects the JTAG signal source at reset",
        45: "sets the flash voltage (VDD_SPI): high at reset means 1.8 V flash and no boot",
        46: "selects the boot mode and the ROM log (must be low to download)",
    },
}
# not strapping, but the boot ROM toggles it while the chip starts (Random Nerd Tutorials'
# ESP32 pinout reference lists GPIO0, 1, 3, 5, 14, 15 as "outputs PWM signal at boot")
_BOOT_GLITCH = {"esp32": {14: "outputs a PWM signal at boot"}}
_MISSING = {"esp32": {20, 24, 28, 29, 30, 31}, "esp32s3": {22, 23, 24, 25}}
_FLASH = {"esp32": range(6, 12), "esp32s3": range(26, 33)}
_CONSOLE = {"esp32": {1: "UART0 TX", 3: "UART0 RX"}, "esp32s3": {43: "UART0 TX", 44: "UART0 RX"}}
_INPUT_ONLY = {"esp32": range(34, 40), "esp32s3": range(0)}
_USB = {"esp32s3": {19: "USB D-", 20: "USB D+"}}
# ESP32-S3: SPIIO4-7 and SPIDQS, the octal SPI lines, are GPIO33-37; a module with octal PSRAM
# (ESP32-S3R8 inside: WROOM-1 N4R8, N8R8, N16R8) or octal flash (WROOM-2) wires them to it, and
# MicroPython's octal-SPIRAM build cannot use them (esp-idf issue 10605, micropython discussion
# 12760: a part on GPIO35-37 of an N16R8 hid its PSRAM). A quad PSRAM (R2) leaves them free.
_OCTAL_PSRAM = {"esp32s3": range(33, 38)}
_NOT_ON_HEADERS = {"esp32": {37, 38}}
_RGB_LED = {"esp32s3": {38: "v1.1", 48: "v1.0"}}
# A classic ESP32 on a WROVER module (ESP32-DevKitC-VE, many clones) wires its PSRAM's clock and
# chip select to GPIO17 and GPIO16: MicroPython crashes when they are driven (micropython issue
# 7819), and the PSRAM probe at boot toggles them. A WROOM-32 leaves them free.
_WROVER_PSRAM = {"esp32": (16, 17)}
# ESP32 errata 3.11 (ESP32 Series SoC Errata): while the SAR ADCs or Wi-Fi power up, GPIO36
# and GPIO39 are pulled low for about 80 ns: an interrupt on them fires with no one there.
# Polled, a pulse that short is not seen; the firmware takes these inputs' edges by interrupt
# (firmware/board.py: the knob's A and B in Encoder, the button and the stop button in Latch,
# whose edge during a stall reads as a press): field -> what a false edge does.
_ERRATA_PULSE_PINS = {"esp32": (36, 39)}
_IRQ_INPUTS = {
    "inputs.encoder_a_pin": "the knob's decoder could count detents nobody turned or lose some",
    "inputs.encoder_b_pin": "the knob's decoder could count detents nobody turned or lose some",
    "inputs.button_pin": "a false edge during a stall reads as a press nobody made (a start "
                         "or a pause)",
    "inputs.stop_pin": "a false edge during a stall reads as a stop nobody pressed",
}
_NO_PULL = "which has no internal pull-up or pull-down"
_GPIOS = {"esp32": range(40), "esp32s3": range(49)}


# board file section -> what its pins do
_KINDS = {"outputs": "air", "indicators": "indicator", "display": "indicator",
          "inputs": "input", "sensor": "sensor"}


def _roles(cfg):
    """(field, pin, kind) for every pin in the board file; kind: 'air' (pump, dump, valves:
    what moves air), 'indicator' (LED, buzzer, display bus: other outputs), 'input' (buttons,
    encoder), 'sensor' (the ADC)."""
    roles = []
    for section, kind in _KINDS.items():
        for key, value in sorted(cfg.get(section, {}).items()):
            field = section + "." + key
            if key.endswith("_pins") and isinstance(value, list):
                roles += [("%s[%d]" % (field, i), p, kind) for i, p in enumerate(value)]
            elif (key.endswith("_pin") and isinstance(value, int)
                  and not isinstance(value, bool)):
                roles.append((field, value, kind))
    return roles


def _pin_notes(cfg, field, pin, kind):
    """(errors, warnings) for one pin in one role (see _roles)."""
    mcu = cfg["mcu"]
    chip = mcu.upper()
    errors, warnings = [], []
    where = "%s is GPIO%d" % (field, pin)
    output = kind in ("air", "indicator")
    if pin in _MISSING.get(mcu, ()):
        errors.append("%s, which does not exist on the %s" % (where, chip))
        return errors, warnings
    if pin in _FLASH.get(mcu, ()):
        errors.append("%s, which the flash memory uses: the chip stops working if it is "
                      "touched; pick another pin" % where)
        return errors, warnings
    if pin in _CONSOLE.get(mcu, {}):
        errors.append("%s, the serial console (%s): flashing and the REPL would stop "
                      "working and console traffic would toggle it; pick another pin"
                      % (where, _CONSOLE[mcu][pin]))
        return errors, warnings
    if output and pin in _INPUT_ONLY.get(mcu, ()):
        errors.append("%s, which is input only on the %s (GPIO34-39): it cannot drive an "
                      "output; pick another pin" % (where, chip))
        return errors, warnings
    why = _STRAPPING.get(mcu, {}).get(pin)
    if why:
        text = "%s, a strapping pin: it %s" % (where, why)
        if kind == "air":
            errors.append(text + "; it glitches at reset, which would pulse a valve or the "
                          "pump, and a driver's resistor on it can change how the chip "
                          "boots: move it")
        else:
            warnings.append(text + "; make sure what is wired to it does not hold it at "
                            "the wrong level during reset")
    why = _BOOT_GLITCH.get(mcu, {}).get(pin)
    if why:
        text = "%s, which %s" % (where, why)
        if kind == "air":
            errors.append(text + ": that would pulse a valve or the pump; move it")
        elif kind == "indicator":
            warnings.append(text + ": the indicator flickers while the chip starts")
    usb = _USB.get(mcu, {}).get(pin)
    if usb:
        text = "%s, the native USB (%s)" % (where, usb)
        if kind == "air":
            errors.append(text + ": USB toggles it at boot, which would pulse a valve or the"
                          " pump; move it")
        else:
            warnings.append(text + ": using it disables the USB port's serial console; use "
                            "the UART port")
    if pin in _OCTAL_PSRAM.get(mcu, ()):
        if cfg.get("psram"):
            errors.append("%s, which the octal PSRAM uses (\"psram\": true: on an ESP32-S3 "
                          "that means a module with octal PSRAM, e.g. WROOM-1 N8R8, N16R8, or "
                          "octal flash, WROOM-2): the PSRAM stops working or the chip crashes; "
                          "move it. A module with quad PSRAM (R2 in its name) leaves GPIO33-37 "
                          "free: then leave \"psram\" out" % where)
        else:
            warnings.append("%s, which modules with octal PSRAM (ESP32-S3-WROOM-1 N8R8, "
                            "N16R8) or octal flash (WROOM-2) use for it: use it only on a "
                            "module without (no R8 or R16 in its name). If yours has octal "
                            "PSRAM, say \"psram\": true (then this is an error) and move it"
                            % where)
    if pin in _NOT_ON_HEADERS.get(mcu, ()):
        warnings.append("%s, which the ESP32-DevKitC does not bring out to its headers"
                        % where)
    if pin in _RGB_LED.get(mcu, {}):
        warnings.append("%s, which drives the on-board RGB LED of ESP32-S3-DevKitC-1 %s "
                        "boards" % (where, _RGB_LED[mcu][pin]))
    if pin in _WROVER_PSRAM.get(mcu, ()):
        if cfg.get("psram"):
            errors.append("%s, which this board's module uses for its PSRAM (\"psram\": "
                          "true, an ESP32 WROVER): MicroPython crashes when it is driven "
                          "and the PSRAM probe toggles it at boot (micropython issue 7819); "
                          "move it" % where)
        else:
            warnings.append("%s, which ESP32 WROVER modules (ESP32-DevKitC-VE and many "
                            "clones) use for their PSRAM: driving it there crashes "
                            "MicroPython; fine on a WROOM-32. If your module has PSRAM, say "
                            "\"psram\": true (then this is an error) and move it" % where)
    if pin in _ERRATA_PULSE_PINS.get(mcu, ()) and field in _IRQ_INPUTS:
        warnings.append("%s, which gets short false low pulses while the ADC or Wi-Fi is in "
                        "use (ESP32 errata 3.11); the firmware reads it by pin interrupt, "
                        "so %s: move it (%s)" % (where, _IRQ_INPUTS[field],
                                                 _free_inputs(cfg, field)))
    if kind == "input" and pin in _INPUT_ONLY.get(mcu, ()) and not (
            field.startswith("inputs.encoder_") and cfg["inputs"].get("encoder_pullups")):
        warnings.append("%s, %s: fit an external 10 kOhm pull-up or the input floats and "
                        "triggers by itself%s" % (where, _NO_PULL, (
                            " (a KY-040 module has them on board for A and B)"
                            if field.startswith("inputs.encoder_") else "")))
    return errors, warnings


def _free_inputs(cfg, field):
    """Where the input `field` could go on this board: the GPIOs no other field uses that this
    check passes for it without a word (they have an internal pull-up), then those whose only
    word is the missing pull-up (GPIO34-39 of a classic ESP32)."""
    used = {p for f, p, _ in _roles(cfg) if f != field}
    clean, pull = [], []
    for pin in _GPIOS[cfg["mcu"]]:
        if pin in used or pin in _ERRATA_PULSE_PINS.get(cfg["mcu"], ()):
            continue
        errors, warnings = _pin_notes(cfg, field, pin, "input")
        if errors:
            continue
        if not warnings:
            clean.append(pin)
        elif all(_NO_PULL in w for w in warnings):
            pull.append(pin)
    names = lambda pins: ", ".join("GPIO%d" % p for p in pins)  # noqa: E731
    if clean and pull:
        return "free on this board: %s; or %s with an external 10 kOhm pull-up" % (
            names(clean), names(pull))
    if clean:
        return "free on this board: %s" % names(clean)
    if pull:
        return "free on this board: %s, with an external 10 kOhm pull-up (no internal one)" \
            % names(pull)
    return "no free GPIO on this board suits it: free one, e.g. move an indicator"


def check(cfg):
    """Return (errors, warnings) for a board dict that boardcfg.validate() accepted."""
    errors, warnings = [], []
    for field, pin, kind in _roles(cfg):
        e, w = _pin_notes(cfg, field, pin, kind)
        errors += e
        warnings += w
    if not cfg["outputs"]["active_high"]:
        warnings.append("outputs.active_high is false: during reset the pins float, so every "
                        "driver input needs a pull-UP to stay off (docs/HARDWARE.md assumes "
                        "active-high drivers with pull-downs)")
    return errors, warnings
