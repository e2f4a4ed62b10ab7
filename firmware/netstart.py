# The network service, only when the heap can hold it (issue 14). The connected boot needs
# limits.NET_HEAP_KB more heap than the boot without it (the MQTT modules, umqtt.simple, the
# link's buffers); a chip that cannot give it would fail with MemoryError mid-session instead.
# So the free heap is read once, at boot, before the network is made: on the ESP32 gc.mem_free()
# counts what the heap may still grow by from ESP-IDF's, which Wi-Fi and TLS share.
import gc
from limits import NET_HEAP_KB

NO_HEAP = ("the network needs about %d KB of heap and %d KB is free: the boot runs without it "
           "(a session never needs it); for MQTT on this board flash the frozen image "
           "(docs/HARDWARE.md, \"A frozen image\"), or use a module with PSRAM")
NOTICE = "NO NETWORK: HEAP"


def _free_kb():
    gc.collect()
    free = getattr(gc, "mem_free", None)     # (CPython, the simulator's other runtime: no heap)
    return free() // 1024 if free is not None else 1 << 20


def services(net, wlan):
    """The network services for the checked secrets (net), or none: (list, warning or None)."""
    free_kb = _free_kb()
    if free_kb < NET_HEAP_KB:
        return [], NO_HEAP % (NET_HEAP_KB, free_kb)
    try:
        import telemetry
        return [telemetry.Telemetry(net, wlan)], None
    except MemoryError:             # the estimate was short: still no crash
        return [], NO_HEAP % (NET_HEAP_KB, _free_kb())
