#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target (fuzz/corpus/<target>/seed-*), in the input
format each target in tests/fuzz-targets decodes. Run again after changing a format; the
inputs fuzzing adds beside these are kept."""
import json, os, shutil, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)

# config: files as users write them, and broken ones.
configs = {
    "mock": {"type": "mock-sync-server", "url": "http://localhost:4000/mock-sync"},
    "wrapped": {"externalSync": {"type": "openfn-adapter", "url": "https://app.openfn.org/i/abc",
                                 "extraFields": [{"name": "apiKey", "value": "k"}, {"name": "batchSize", "value": "50"}]}},
    "openspp": {"type": "openspp-adapter", "url": "https://spp.example.org", "auth": "basic",
                "extraFields": [{"name": "database", "value": "openspp"}, {"name": "username", "value": "u"},
                                {"name": "password", "value": "p"}, {"name": "syncInterval", "value": "60000"}]},
    "toplevel": {"type": "custom-adapter", "url": "https://hook.example.org", "batchSize": 10, "foo": {"a": 1}},
    "badbatch": {"type": "custom-adapter", "url": "https://x", "extraFields": [{"name": "batchSize", "value": "0"}]},
    "badurl": {"type": "custom-adapter", "url": "not a url"},
    "notype": {"url": "https://x"},
    "fields-not-list": {"type": "x", "url": "https://x", "extraFields": {"a": 1}},
}
for k, v in configs.items():
    write("config", k, json.dumps(v))
write("config", "bom", "\ufeff" + json.dumps(configs["mock"]))
write("config", "broken-json", '{"type": "mock-sync-server", "url": ')
write("config", "array", "[1, 2, 3]")

# import: first byte sets the line limit (16 + 16*b bytes), then the file.
def ev(i, **kw):
    e = {"guid": f"g-{i}", "entityGuid": f"p-{i}", "type": "create-individual",
         "data": {"name": f"P {i}"}, "timestamp": "2025-01-01T00:00:00Z", "userId": "u", "syncLevel": 0}
    e.update(kw)
    return json.dumps(e)
write("import", "good", bytes([40]) + "\n".join(ev(i) for i in range(3)).encode() + b"\n")
write("import", "blank-and-bom", bytes([40]) + ("\n\n\ufeff" + ev(1) + "\n   \n").encode())
write("import", "too-long", bytes([2]) + (ev(1) + "\n" + ev(2)).encode())
write("import", "bad-level", bytes([40]) + ev(1, syncLevel=7).encode())
write("import", "no-guid", bytes([40]) + ev(1, guid="").encode())
write("import", "not-json", bytes([40]) + b"hello\n{\n")

# responses: adapter byte (0 mock-sync-server, 1 openfn, 2 openspp, 3 custom), then answers
# separated by 0xFF: big-endian status, "name: value" lines, blank line, body.
def answer(status, body, headers=None):
    head = "".join(f"{k}: {v}\n" for k, v in (headers or {"content-type": "application/json"}).items())
    return struct.pack(">H", status) + head.encode() + b"\n" + (body if isinstance(body, bytes) else body.encode())
def responses(name, adapter, *answers):
    write("responses", name, bytes([adapter]) + b"\xff".join(answers))
responses("mock-ok", 0, answer(200, '{"received":3,"duplicates":0,"rejected":[]}'),
          answer(200, '{"data":[{"guid":"r1","entityGuid":"e1","type":"upsert-external-entity","data":{"name":"x"},"timestamp":"2024-01-01T00:00:00Z"}],"nextCursor":"1","hasMore":false}'))
responses("mock-reject", 0, answer(200, '{"received":2,"duplicates":0,"rejected":[{"guid":"fuzz-1","reason":"no"}]}'))
responses("mock-429", 0, answer(429, "slow down", {"retry-after": "0"}), answer(503, ""), answer(200, "not json"))
responses("mock-gzip-lie", 0, answer(200, "not gzip", {"content-encoding": "gzip"}))
responses("openfn-ok", 1, answer(200, '{"work_order_id":"wo-1","run_id":"r-1"}'),
          answer(200, '{"cursor":null,"items":[]}'))
responses("openfn-415", 1, answer(415, '{"error":"Unsupported Media Type"}'))
responses("openspp-login", 2, answer(200, '{"jsonrpc":"2.0","id":1,"result":2}'),
          answer(200, '{"jsonrpc":"2.0","id":2,"result":[]}'))
responses("openspp-error", 2, answer(200, '{"jsonrpc":"2.0","id":1,"error":{"code":200,"message":"Odoo Server Error","data":{"name":"builtins.ValueError","message":"Invalid field"}}}'))
responses("custom-ok", 3, answer(200, '{"accepted":3}'), answer(200, '{"records":[],"nextCursor":null}'))
responses("custom-500", 3, answer(500, "<html>oops</html>", {"content-type": "text/html"}))

# loader: real components (small ones), a core module, headers, garbage.
os.makedirs(os.path.join(HERE, "corpus", "loader"), exist_ok=True)
for f in ["test-adapters/future_major.wasm", "test-adapters/broken.wasm", "test-adapters/legacy_v1_0.wasm"]:
    p = os.path.join(ROOT, "target", f)
    if os.path.exists(p):
        shutil.copy(p, os.path.join(HERE, "corpus", "loader", "seed-" + os.path.basename(p)))
    else:
        sys.exit(f"{p} is missing: run `make adapters` first")
write("loader", "core-module", b"\0asm\x01\0\0\0")
write("loader", "component-header", b"\0asm\x0d\0\x01\0")
write("loader", "empty", b"")
write("loader", "text", b"this is not wasm")

# cache: mode byte (under 16 truncates to mode/16), then (u32 LE offset, xor) patches.
write("cache", "truncate-half", bytes([8]))
write("cache", "flip-one", bytes([200]) + struct.pack("<IB", 1000, 1))
write("cache", "flip-many", bytes([255]) + b"".join(struct.pack("<IB", o, 0xFF) for o in (0, 7, 4096, 65536, 10**6)))
write("cache", "truncate-all", bytes([0]))

# api: route byte, method byte (0 GET 1 POST 2 PUT 3 DELETE), query, newline, body.
ROUTES = ["/api/configs", "/api/configs/fuzz", "/api/configs/fuzz/release", "/api/sync/external",
          "/api/runs", "/api/runs/1", "/api/quarantine", "/api/quarantine/retry", "/api/adapters", "/metrics", "/",
          "/api/runs/1/quarantine"]
def api(name, route, method, query, body):
    write("api", name, bytes([ROUTES.index(route), method]) + query.encode() + b"\n" + body.encode())
api("create", "/api/configs", 1, "", json.dumps({"id": "fuzz", **configs["mock"]}))
api("create-bad", "/api/configs", 1, "", '{"type": 1}')
api("create-not-json", "/api/configs", 1, "", "{{{")
api("put", "/api/configs/fuzz", 2, "", json.dumps(configs["openspp"]))
api("sync-missing", "/api/sync/external", 1, "", '{"configId": "nope"}')
api("sync-bad", "/api/sync/external", 1, "", '[]')
api("runs-query", "/api/runs", 0, "limit=-5&config=fuzz", "")
api("runs-huge", "/api/runs", 0, "limit=99999999999999999999", "")
api("run-missing", "/api/runs/1", 0, "", "")
api("quarantine", "/api/quarantine", 0, "config=%ff%00", "")
api("retry-bad", "/api/quarantine/retry", 1, "", '{"ids": ["x"]}')
api("release", "/api/configs/fuzz/release", 1, "", "")
api("delete", "/api/configs/fuzz", 3, "", "")
api("metrics", "/metrics", 0, "", "")
api("run-quarantine", "/api/runs/1/quarantine", 0, "", "")
api("quarantine-config", "/api/quarantine", 0, "configId=fuzz", "")
