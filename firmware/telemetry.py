# The MQTT service: state, events and Home Assistant discovery out; commands in.
# Started by main.py as one of the App's services (only when secrets.json sets up MQTT).
#
# It never holds the control task up: every wait is an asyncio sleep, every socket call is
# non-blocking (mqttlink.py), each step does a bounded amount of work, and what cannot be sent
# is dropped (telemetry is lossy). The steps an ESP32 cannot bound (the broker's name lookup, the
# TLS handshake) run only while no session runs, under netguard's watchdog marker; the name is
# looked up once per boot.
#
# A command runs through App.command, like a press of the button: the app checks the range
# (set_target), refuses what is not possible now, and never refuses a stop. A bad command is
# answered with an error event and otherwise ignored.
# mypy: disable-error-code="union-attr"
# (the app, Wi-Fi, topics and link are set once run() starts; mypy sees their None first)
import asyncio
import json
from time import ticks_ms, ticks_diff

import mqttmsg as M
import remote
from mqttlink import Link, LinkError, Pending, SocketModule, der, RX_MAX
from netguard import Guard, ADVICE, is_ip
from wifi import Wifi, Backoff
from limits import NET_HEARTBEAT_MS, HEARTBEAT_MS

STEP_MS = 20                  # the service loop period while connected
CONNECT_TIMEOUT_MS = 5000     # TCP connect
REPLY_TIMEOUT_MS = 5000       # CONNACK after CONNECT (TLS: including the handshake)
STATE_EVERY_MS = 1000         # the state, when nothing discrete changed
STATE_MIN_GAP_MS = 250        # changes closer than this are coalesced
EVENT_QUEUE = 16              # events waiting to be sent; beyond this the oldest are dropped
PUBLISH_PER_STEP = 4          # messages per step at most
PACKETS_PER_STEP = 4          # received packets handled per step at most
SEND_SOFT_LIMIT = 2048        # bytes queued: publish nothing more this step
IDLE_POLL_MS = 500            # waiting for the end of a session
STABLE_MS = 30000             # a connection up this long restarts the back-off at its first
                              # step; one dropped sooner grows it (a broker that drops the boot
                              # at every connect is retried at 1, 2, 4 ... 60 s, not every 1 s)
_REFUSED = ("", "protocol version refused", "client id rejected", "broker unavailable",
            "bad user name or password", "not authorised (check mqtt.user and mqtt.password)")
_DIRTY = ("phase", "start", "stop", "end", "fault", "target", "pause", "resume", "clear")


class Telemetry:
    # watched by App.supervise: heartbeat_ms is set at every wait step (_sleep), at most every
    # IDLE_POLL_MS; none for heartbeat_max_ms and the board is reset
    name = "telemetry"
    heartbeat_max_ms = NET_HEARTBEAT_MS

    def __init__(self, conf, wlan, flash_dir="", model=""):
        self.conf = conf["mqtt"]
        self.wifi_conf = conf["wifi"]
        self._wlan_factory = wlan         # board.wlan: builds the station interface
        self.flash_dir = flash_dir
        self.model = model
        self.app = None
        self.wifi = None
        self.link = None
        self.topics = None
        self.node_id = ""
        self.backoff = Backoff()
        self.addr = None                  # the broker's address, resolved once
        self.guard = None
        self.events = []                  # lossy queue of event records
        self.dropped = 0
        self._dirty = True
        self._start = None                # the start event of the running session
        self._ended_start = None          # the start event of the session that just ended
        self._last_state = None
        self._state_ms = ticks_ms()
        self._disc_i = 0                  # next discovery message, -1 when all sent
        self._retained = False            # the packet being read was a retained one
        self._pong_due = False
        self._ping_ms = ticks_ms()
        self.status = ""                  # nothing said yet ("off": umqtt.simple is missing)
        self.heartbeat_ms = ticks_ms()

    # --- events from the app (called on the control path: keep it tiny) ------------------------
    def on_event(self, rec):
        name = rec["event"]
        if name in _DIRTY:
            self._dirty = True
        if name == "start":
            self._start = rec
        elif name == "end" or name == "stop":
            self._ended_start = self._start       # the usage record is built when sent
            self._start = None
        if name in M.FORWARD:
            if len(self.events) >= EVENT_QUEUE:
                self.events.pop(0)
                self.dropped += 1
            self.events.append(rec)

    # --- the service task ---------------------------------------------------------------------
    async def run(self, app):
        self.app = app
        app.gate.remote_inflate = self.conf["allow_start"]   # remote start and resume
        app.listeners.append(self.on_event)
        for rec in app.early:             # what the boot said before anyone listened
            self.on_event(rec)
        del app.early[:]
        try:
            from umqtt.simple import MQTTClient     # noqa: F401  (installed beside the firmware)
        except ImportError:
            self._note("off", "umqtt.simple is not installed: mpremote mip install umqtt.simple")
            return
        self.guard = Guard(self.flash_dir, app.hw.rtc)
        if self.guard.hung:
            self._note("degraded", ADVICE[self.guard.hung])
        while True:
            try:
                await self._session()
            except Exception as e:  # telemetry must never take the boot down: report, retry
                self._note("down", str(e) or repr(e))
            self._close()
            await self._sleep(self.backoff.take())

    def _beat(self):
        self.heartbeat_ms = ticks_ms()

    def holding_step(self, now_ms, window_ms):
        """The guarded blocking step (netguard) under way or just ended, or "" (App.supervise)."""
        return self.guard.held_loop(now_ms, window_ms) if self.guard is not None else ""

    async def _sleep(self, ms):
        """Every wait of this task: asyncio sleeps of at most IDLE_POLL_MS, the heartbeat
        beaten before and after each (App.supervise watches it)."""
        while ms > 0:
            self.heartbeat_ms = ticks_ms()
            if self.guard is not None:      # age the last step's end (ticks wrap): see held_loop
                self.guard.held_loop(self.heartbeat_ms, HEARTBEAT_MS)
            step = ms if ms < IDLE_POLL_MS else IDLE_POLL_MS
            await asyncio.sleep_ms(step)
            ms -= step
        self.heartbeat_ms = ticks_ms()

    def _note(self, status, why=None):
        """A change of the connection's state, as a "network" event (console and MQTT)."""
        if status == self.status and status != "down":
            return
        self.status = status
        fields = {"status": status}
        if why:
            fields["why"] = why
        self.app.event(ticks_ms(), "network", fields)

    def _idle(self):
        return self.app.snapshot(ticks_ms())["phase"] == "idle"

    async def _session(self):
        if self.wifi is None:
            wlan = self._wlan_factory()
            self.wifi = Wifi(wlan, self.wifi_conf["ssid"], self.wifi_conf["password"])
            mac = wlan.config("mac")
            self.node_id = "boot_" + "".join(["%02x" % b for b in mac[-3:]])
            m = self.conf
            self.topics = M.Topics(m["topic"] or "boot/" + self.node_id, m["discovery_prefix"])
        if not self.wifi.connected():
            self._note("joining")
            if not await self.wifi.up(self._idle, self._beat):
                self._note("wifi_down", self.wifi.why)
                return                            # run() backs off
            self._note("wifi_up")
        addr = await self._resolve()
        if addr is None:
            return
        tls = self.conf["tls"]
        if tls:
            await self._blocking_step_allowed("tls")
            self.guard.begin("tls")
        try:
            link = Link(addr)
            self.link = link
            link.open()
            await self._until(link.tcp_ready, CONNECT_TIMEOUT_MS, "TCP connect")
            if tls:
                link.start_tls(self._tls_context(), self.conf["host"])
            client = self._client(link)
            await self._handshake(client, link)
        except Exception:
            self.guard.end(ticks_ms())
            raise
        self.guard.end(ticks_ms())
        self._note("connected")
        await self._serve(client, link)

    async def _blocking_step_allowed(self, step):
        """Wait until a step that may block can run: never again if it hung before the last
        reset, otherwise once no session runs."""
        if self.guard.hung == step:
            while True:
                await self._sleep(3600000)
        while not self._idle():
            await self._sleep(IDLE_POLL_MS)

    def _client(self, link):
        from umqtt.simple import MQTTClient
        m = self.conf
        user = m["user"]
        pw = m["password"] if m["password"] is not None else ("" if user is not None else None)
        client = MQTTClient(m["client_id"] or self.node_id, m["host"], m["port"], user, pw,
                            m["keepalive_s"])
        client.set_last_will(self.topics.availability, M.OFFLINE, True)
        client.set_callback(self._on_message)
        return client

    def _tls_context(self):
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ca = self.conf["ca_file"]
        if ca:
            with open(self.flash_dir + ca, "rb") as f:
                data = f.read()
            ctx.load_verify_locations(cadata=der(data))
            mode = ssl.CERT_REQUIRED
        else:
            mode = ssl.CERT_NONE                # encrypted, but the broker is not checked
        setattr(ctx, "verify_mode", mode)       # (the port has it; its stubs do not)
        return ctx

    async def _until(self, ready, timeout_ms, what):
        t0 = ticks_ms()
        while not ready():
            if ticks_diff(ticks_ms(), t0) >= timeout_ms:
                raise LinkError("%s: no answer within %d ms" % (what, timeout_ms))
            await self._sleep(STEP_MS)

    # --- the name lookup, once ------------------------------------------------------------
    async def _resolve(self):
        if self.addr is not None:
            return self.addr
        import socket
        host = self.conf["host"]
        named = not is_ip(host)             # an IP address: getaddrinfo only parses it
        if named:
            await self._blocking_step_allowed("dns")
            self.guard.begin("dns")
        try:
            self.addr = socket.getaddrinfo(host, self.conf["port"])[0][-1]
        except (OSError, IndexError) as e:
            self._note("down", "cannot look up %s: %s" % (host, e))
        if named:
            self.guard.end(ticks_ms())
        return self.addr

    # --- connecting -----------------------------------------------------------------------------
    async def _handshake(self, client, link):
        from umqtt import simple
        saved = getattr(simple, "socket")
        setattr(simple, "socket", SocketModule(link))    # its socket: our link, connected
        try:
            client.connect(True)                  # queues CONNECT, then wants the CONNACK
        except Pending:
            pass
        finally:
            setattr(simple, "socket", saved)
        t0 = ticks_ms()
        while True:
            if self.guard.step and not self._idle():
                # the TLS steps block: they run only while no session runs (netguard)
                raise LinkError("a session started during the TLS handshake: connecting "
                                "again once it has ended")
            link.pump()
            pk = link.packet()
            if pk is not None:
                break
            if ticks_diff(ticks_ms(), t0) >= REPLY_TIMEOUT_MS:
                raise LinkError("the broker accepted the connection but did not answer within "
                                "%d ms" % REPLY_TIMEOUT_MS)
            await self._sleep(STEP_MS)
        first, head, size = pk
        body = link.take(head + size)[head:]
        if first != 0x20 or size != 2:
            raise LinkError("the broker's first packet was not a CONNACK")
        if body[1]:
            why = _REFUSED[body[1]] if body[1] < len(_REFUSED) else "code %d" % body[1]
            raise LinkError("the broker refused the connection: " + why)
        link.compact()
        self._subscribe(client, self.topics.cmd)
        if self.conf["discovery"]:
            self._subscribe(client, self.topics.ha_status)
        client.publish(self.topics.availability, M.ONLINE, True)
        self._disc_i = 0 if self.conf["discovery"] else -1
        self._last_state = None
        self._dirty = True
        self._pong_due = False
        self._ping_ms = ticks_ms()
        link.pump()

    def _subscribe(self, client, topic):
        try:
            client.subscribe(topic)               # queues SUBSCRIBE, then wants the SUBACK
        except Pending:
            pass

    def _close(self):
        if self.link is not None:
            self.link.close()
            self.link = None

    # --- connected ----------------------------------------------------------------------------
    async def _serve(self, client, link):
        ping_ms = self.conf["keepalive_s"] * 500
        up_ms = ticks_ms()
        stable = False
        while True:
            if not self.wifi.connected():
                raise LinkError("Wi-Fi lost")
            link.pump()
            if link.skipped:
                self._report_skipped(link)
            for _ in range(PACKETS_PER_STEP):
                pk = link.packet()
                if pk is None:
                    break
                self._dispatch(client, link, pk)
            link.compact()
            now = ticks_ms()
            if not stable:
                up = ticks_diff(now, up_ms)
                if up >= STABLE_MS or up < 0:   # (< 0: a shelf past half the tick period)
                    stable = True
                    self.backoff.reset()
            age = ticks_diff(now, self._ping_ms)
            if age >= ping_ms or age < 0:     # (< 0: a stamp from before a jump: due)
                if self._pong_due:
                    raise LinkError("the broker stopped answering")
                client.ping()
                self._pong_due = True
                self._ping_ms = now
            self._publish_some(client, link, now)
            link.pump()
            await self._sleep(STEP_MS)

    def _dispatch(self, client, link, pk):
        first, head, size = pk
        kind = first & 0xF0
        if kind == 0x30 and (first >> 1) & 3 < 2:
            end = link.pos + head + size
            self._retained = bool(first & 1)
            link.serving = True
            try:
                client.check_msg()                # reads exactly this packet, calls back
            except (Pending, IndexError, ValueError):
                remote.refuse(self.app, None, "malformed message from the broker")
            finally:
                link.serving = False
                link.pos = end
            return
        body = link.take(head + size)[head:]
        if kind == 0xD0:
            self._pong_due = False
        elif kind == 0x90 and size == 3 and body[2] == 0x80:
            self._note("degraded", "the broker refused a subscription: commands will not "
                                   "arrive")

    def _report_skipped(self, link):
        """An error event for each packet too big to keep that the link read and dropped."""
        while link.skipped:
            first, size, topic, tlen = link.skipped.pop(0)
            fields = {"bytes": size, "retained": bool(first & 1)}
            if first & 0xF0 == 0x30:
                name = M.printable(topic) + ("..." if tlen > len(topic) else "")
                fields["topic"] = name
                extra = 2 + tlen + (2 if first & 6 else 0)     # topic (and packet id)
                fields["bytes"] = size - extra                   # the payload
                why = "a message of %d bytes on %s was skipped: the boot takes at most %d " \
                      "bytes there" % (size - extra, name, RX_MAX - extra)
                if first & 1:
                    why += ("; it is retained, so the broker sends it at every connect: clear "
                            "it (publish an empty retained message to that topic)")
            else:
                why = "a packet of %d bytes (type %d) from the broker was skipped: the boot " \
                      "takes at most %d" % (size, first >> 4, RX_MAX)
            fields["why"] = why
            self.app.event(ticks_ms(), "error", fields)
        if link.skips_lost:
            self.app.event(ticks_ms(), "error", {"why": "%d more packets too big were skipped"
                                                        % link.skips_lost})
            link.skips_lost = 0

    # --- commands ---------------------------------------------------------------------------
    def _on_message(self, topic, msg, retained=None):
        # (some umqtt versions pass the retain flag; _dispatch has already noted it for all)
        if topic == self.topics.ha_status:
            if msg == M.ONLINE and self.conf["discovery"]:
                self._disc_i = 0                 # Home Assistant restarted: discovery again
                self._last_state = None
                self._dirty = True
            return
        if topic != self.topics.cmd:
            return
        remote.on_command(self.app, msg, self._retained)

    # --- publishing -----------------------------------------------------------------------------
    def _publish_some(self, client, link, now):
        budget = PUBLISH_PER_STEP
        if self._disc_i >= 0 and link.queued() < SEND_SOFT_LIMIT:
            self._publish_discovery(client)
            budget -= 1
        while budget and self.events and link.queued() < SEND_SOFT_LIMIT:
            rec = self.events.pop(0)
            budget -= 1
            if rec["event"] in ("end", "stop"):
                rec = dict(rec)
                rec["usage"] = M.usage_record(self._ended_start, rec,
                                              self.app.snapshot(now)["cycle"])
                client.publish(self.topics.usage, json.dumps(rec["usage"]).encode(), True)
            # bytes, always: umqtt sizes the packet with len(), which counts characters in a str
            client.publish(self.topics.event, json.dumps(rec).encode())
        since = ticks_diff(now, self._state_ms)
        if since < 0:
            # the last state went out before the link dropped, maybe days ago: past 6.2 days
            # its time reads as the future (ticks wrap), and would hold the state back as long
            since = STATE_EVERY_MS
        if since < STATE_MIN_GAP_MS or link.queued() >= SEND_SOFT_LIMIT:
            return
        if since < STATE_EVERY_MS and not self._dirty:
            return
        snap = self.app.snapshot(now)
        if since < STATE_EVERY_MS and not M.changed(snap, self._last_state):
            self._dirty = False
            return
        self._dirty = False
        self._last_state = snap
        self._state_ms = now
        snap["t_ms"] = self.app.uptime_ms(now)
        client.publish(self.topics.state, M.state_message(snap, self.dropped).encode(), True)

    def _publish_discovery(self, client):
        app = self.app
        from ranges import bounds
        lo, hi = bounds("pressure_mmhg", app.cfg)
        from sequencer import PHASES
        dev = M.device_block(self.node_id, self.conf["name"], self.model or app.cfg["name"])
        msg = M.discovery(self._disc_i, self.topics, self.node_id, dev, lo, hi, PHASES,
                          self.conf["allow_start"])
        if msg is None:
            self._disc_i = -1
            return
        client.publish(msg[0], msg[1], True)
        self._disc_i += 1
