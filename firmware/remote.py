# A command that arrived on the MQTT command topic: parsed (mqttmsg.parse_command), then carried
# out through the app's one gate like a press of the button (App.command, source REMOTE). Used by
# the MQTT service (telemetry.py), and by the simulator to deliver a scenario's "remote" action
# exactly as the command topic would. Answers are events: "command" when done, "error" with
# the reason (and the payload, printable) when not.
from time import ticks_ms
import mqttmsg as M
from gate import REMOTE

RETAINED_TEXT = ("retained commands are ignored; clear the retained message (publish an empty "
                 "retained message to this topic)")


def on_command(app, payload, retained=False):
    """payload: the message's bytes; retained: the broker flagged it retained (a command left
    on the broker from before must never act on its own). Never raises on a bad payload."""
    if retained:
        refuse(app, payload, RETAINED_TEXT)
        return
    try:
        name, value = M.parse_command(payload)
    except M.CommandError as e:
        refuse(app, payload, str(e))
        return
    why = app.command(ticks_ms(), name, value, REMOTE)
    if why is not None:
        refuse(app, payload, why)
        return
    fields = {"cmd": name}
    if value is not None:
        fields["value"] = value
    app.event(ticks_ms(), "command", fields)


def refuse(app, payload, why):
    """A command that was not carried out: an "error" event (console and MQTT)."""
    fields = {"why": why}
    if payload is not None:
        fields["payload"] = M.printable(payload)
    app.event(ticks_ms(), "error", fields)
