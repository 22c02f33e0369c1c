"""TEST ONLY: a Python adapter that attacks the host, type ``hostile-py``. The extra field
``attack`` picks what it does; each must end in a typed, contained error."""
from datacollect_sdk import SyncError, export_adapter, request


def attack(config):
    what = config.extra("attack")
    if what == "loop":
        while True:
            pass
    if what == "alloc":
        hoard = []
        while True:
            hoard.append(bytearray(1 << 20))
    if what == "socket":
        import socket
        s = socket.create_connection(("127.0.0.1", 1), timeout=1)
        return f"LEAK: connected {s}"
    if what == "file":
        with open("/etc/passwd") as f:
            return "LEAK: " + f.read(40)
    if what == "other-origin":
        r = request("get", "http://169.254.169.254/latest/meta-data/", config=config)
        return f"LEAK: status {r.status}"
    raise SyncError.config(f"unknown attack {what!r}")


class Hostile:
    def describe(self):
        return {"type": "hostile-py", "name": "Hostile adapter (Python, test only)",
                "version": "1.0.0",
                # Claims the 1.2 encoded push without push_encoded: the SDK must not declare it.
                "capabilities": ["push", "pull", "encoded-push"],
                "config_fields": [{"name": "attack", "description": "what to try"}]}

    def push(self, config, events):
        if config.extra("attack") == "huge-page":
            return None  # a pull attack: the push goes through
        raise SyncError.internal(str(attack(config)))

    def pull(self, config, cursor, limit):
        if config.extra("attack") == "huge-page":
            padding = "y" * 4_000_000
            events = [{"guid": "", "entityGuid": f"e{i}", "type": "create-individual",
                       "data": {"padding": padding}, "timestamp": "2025-01-01T00:00:00Z",
                       "userId": "", "syncLevel": 2} for i in range(10)]
            return {"events": events, "next_cursor": None, "has_more": False}
        raise SyncError.internal(str(attack(config)))


Adapter, Manifest, Checks = export_adapter(Hostile())
