# A non-blocking TCP (or TLS) link to the broker, shaped like the socket umqtt.simple expects.
#
# umqtt.simple blocks: connect() waits for the CONNACK, subscribe() for the SUBACK, and
# check_msg() reads the rest of a packet once its first byte is in. Here nothing blocks:
#   - the TCP connect is started non-blocking and polled (tcp_ready);
#   - write() only queues bytes; pump() sends what the socket takes and reads what has arrived;
#   - read() serves bytes only from what has already arrived, and only while `serving`: a read
#     for a reply that is not there raises Pending at once (umqtt's connect and subscribe end
#     there, their request already queued; the service then waits for the reply itself);
#   - packet() says when a whole MQTT packet has arrived, so umqtt's check_msg() is called only
#     for a packet it can read to the end.
# A packet bigger than RX_MAX (a retained 5000-byte message left on a topic we subscribe to) is
# never held: its topic is noted (skipped), and its bytes are read and dropped as they arrive, a
# chunk at a time; the link stays up (issue 13). While whole packets wait to be handled and
# RX_MAX bytes are queued, nothing more is read: the rest waits in the socket (TCP holds the
# broker back). A broker that stops reading is dropped (LinkError); telemetry is lossy.
import socket
import select
from time import ticks_ms

TX_MAX = 8192          # bytes queued for a broker that does not read: drop the link beyond this
RX_MAX = 4096          # the biggest packet kept whole (a command is at most 256 bytes); a bigger
                       # one is read and dropped, its topic noted in skipped
TOPIC_PEEK = 60        # bytes of a skipped message's topic kept to name it
SKIPS_KEPT = 4         # skipped packets noted until the service reports them; more are counted
_CHUNK = 512           # bytes read at a time, into one buffer: received bytes queued stay
                       # under RX_MAX + _CHUNK + 5 (a header)
_READS = 8             # reads per pump at most: a megabyte to skip takes many steps, each short
_EINPROGRESS = (115, 119)      # Linux/lwIP errno values for a connect in progress
_EAGAIN = 11


class Pending(Exception):
    """umqtt asked for a reply that has not arrived: the request is queued, wait for the reply."""


class LinkError(OSError):
    pass


class Link:
    def __init__(self, addr):
        self.addr = addr
        self.sock = None
        self.rx = bytearray()
        self.pos = 0               # read position in rx
        self.scan = 0              # rx[pos:scan] holds whole packets; the next one starts here
        self.skip_left = 0         # bytes still to come of a packet too big to keep: dropped
        self.skipped = []          # (first byte, body bytes, topic, topic length) of each packet
                                   # skipped, until the service reports them
        self.skips_lost = 0        # skipped beyond SKIPS_KEPT before the service looked
        self._buf = bytearray(_CHUNK)
        self._view = memoryview(self._buf)
        self.tx = bytearray()
        self.serving = False       # read() may hand out received bytes (inside check_msg)
        self.eof = False           # the broker closed its side
        self.rx_ms = ticks_ms()    # when bytes last arrived
        self._poll = select.poll()

    # --- connecting ---------------------------------------------------------------------------
    def open(self):
        """Start the TCP connect; returns at once."""
        s = socket.socket()
        self.sock = s
        s.setblocking(False)
        try:
            s.connect(self.addr)
        except OSError as e:
            if e.args[0] not in _EINPROGRESS:
                raise LinkError("connect: %s" % e) from None
        self._poll.register(s, select.POLLOUT)

    def tcp_ready(self):
        """True once the TCP connection is up; raises LinkError if it failed."""
        ready = self._poll.poll(0)
        if not ready:
            return False
        if ready[0][1] & (select.POLLERR | select.POLLHUP):
            raise LinkError("connection refused")
        self._poll.unregister(self.sock)
        return True

    def start_tls(self, ctx, hostname):
        """Wrap the connected socket in TLS; the handshake runs inside pump()."""
        self.sock = ctx.wrap_socket(self.sock, server_hostname=hostname,
                                    do_handshake_on_connect=False)

    # --- what umqtt.simple sees ---------------------------------------------------------------
    def connect(self, addr):
        pass                       # already connected by open()/tcp_ready()

    def setblocking(self, flag):
        pass                       # reads never block here, whatever umqtt asks

    def settimeout(self, t):
        pass

    def write(self, buf, n=None):
        if n is None:
            n = len(buf)
        if len(self.tx) + n > TX_MAX:
            raise LinkError("the broker is not reading: %d bytes queued" % len(self.tx))
        self.tx.extend(buf if n == len(buf) else memoryview(buf)[:n])
        return n

    def read(self, n):
        if not self.serving or len(self.rx) - self.pos < n:
            raise Pending()
        out = bytes(self.rx[self.pos:self.pos + n])
        self.pos += n
        return out

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    # --- the pump -----------------------------------------------------------------------------
    def pump(self):
        """Send what the socket takes, read what has arrived. Never waits."""
        s = self.sock
        if s is None:
            raise LinkError("closed")
        try:
            while self.tx:
                n = s.write(self.tx)
                if not n:
                    break
                self.tx = self.tx[n:]
            for _ in range(_READS):
                if self.eof or self.scan > self.pos and len(self.rx) - self.pos >= RX_MAX:
                    break                 # whole packets wait: the rest stays in the socket
                n = s.readinto(self._buf)
                if n is None:
                    break
                if not n:
                    self.eof = True       # what came before (a refusal, say) is read first
                    break
                self.rx_ms = ticks_ms()
                if self.skip_left >= n:   # all of it belongs to a packet being skipped
                    self.skip_left -= n
                    continue
                k = self.skip_left
                self.skip_left = 0
                self.rx.extend(self._view[k:n])
                self._scan()
        except OSError as e:
            if isinstance(e, LinkError):
                raise
            if e.args[0] != _EAGAIN:
                raise LinkError("socket: %s" % e) from None
        if self.eof and self.packet() is None:
            raise LinkError("the broker closed the connection")

    def queued(self):
        return len(self.tx)

    def _header(self, start):
        """(header length, body length) of the packet at rx[start], or None while its header
        has not all arrived."""
        rx = self.rx
        i = start + 1
        size = 0
        shift = 0
        while True:
            if i >= len(rx):
                return None
            b = rx[i]
            size |= (b & 0x7F) << shift
            i += 1
            if not b & 0x80:
                return i - start, size
            shift += 7
            if shift > 21:
                raise LinkError("malformed packet length from the broker")

    def _scan(self):
        """Move scan past the packets that have arrived whole; a packet bigger than RX_MAX is
        noted in skipped and dropped (what of it is here now, and skip_left bytes to come)."""
        rx = self.rx
        while True:
            start = self.scan
            hs = self._header(start)
            if hs is None:
                return
            head, size = hs
            body = start + head
            end = body + size
            if size <= RX_MAX:
                if end > len(rx):
                    return
                self.scan = end
                continue
            topic = b""
            tlen = 0
            if rx[start] & 0xF0 == 0x30:          # a PUBLISH: wait for its topic, to name it
                if len(rx) - body < 2:
                    return
                tlen = rx[body] << 8 | rx[body + 1]
                peek = tlen if tlen < TOPIC_PEEK else TOPIC_PEEK
                if len(rx) - body < 2 + peek:
                    return
                topic = bytes(rx[body + 2:body + 2 + peek])
            if len(self.skipped) < SKIPS_KEPT:
                self.skipped.append((rx[start], size, topic, tlen))
            else:
                self.skips_lost += 1
            cut = end if end < len(rx) else len(rx)
            rx[start:cut] = b""                   # (in place: MicroPython has no del of a slice)
            self.skip_left = end - cut
            if self.skip_left:
                return

    def packet(self):
        """(first byte, header length, body length) of the next whole packet, or None."""
        hs = self._header(self.pos) if self.scan > self.pos else None
        if hs is None:
            return None
        return self.rx[self.pos], hs[0], hs[1]

    def take(self, n):
        """Consume n bytes and return them."""
        out = bytes(self.rx[self.pos:self.pos + n])
        self.pos += n
        return out

    def compact(self):
        if self.pos:
            self.rx = self.rx[self.pos:]
            self.scan -= self.pos
            self.pos = 0


def der(data):
    """A certificate as DER: MicroPython's mbedTLS may be built without PEM support."""
    if data[:5] != b"-----":
        return data
    from binascii import a2b_base64
    body = []
    for line in data.split(b"\n"):
        line = line.strip()
        if line.startswith(b"-----END"):
            break
        if line and not line.startswith(b"-----"):
            body.append(line)
    return a2b_base64(b"".join(body))


class SocketModule:
    """Stands in for the socket module inside umqtt.simple while it connects: its socket is our
    link (already connected) and its address the one resolved once."""

    def __init__(self, link):
        self.link = link

    def socket(self, *args):
        return self.link

    def getaddrinfo(self, host, port, *args):
        return [(2, 1, 0, "", self.link.addr)]
