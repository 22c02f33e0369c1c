"""The DataCollect adapter SDK for Python: write a sync adapter as a plain class.

    from datacollect_sdk import export_adapter, request, error_for_status, with_rejections, batch_id

    class MyAdapter:
        def describe(self):
            return {"type": "my-adapter", "name": "My system", "version": "0.1.0", "config_fields": []}
        def push(self, config, events):
            ...
            return with_rejections(events, answer.get("rejected", []))
        def pull(self, config, cursor, limit):
            ...
            return {"events": events, "next_cursor": cursor, "has_more": False}

    Adapter, Manifest, Checks = export_adapter(MyAdapter())

Build with ``python adapters/sdk-py/build.py <adapter dir> <module> <out.wasm>``. The mirror
of the Rust SDK (adapters/sdk) and of the JavaScript one (adapters/sdk-js/sdk.js): same
helpers, same error classes, same wire shape of events.

componentize-py calls the classes ``Adapter``, ``Manifest`` and ``Checks`` of the app module
(one per exported interface). An exported ``result<T, E>`` returns T, or raises exactly
``componentize_py_types.Err(E)``; any other exception traps the instance, so the classes made
by ``export_adapter`` turn whatever the adapter raises into a ``sync-error``.

The component is pre-initialized at build time and has no file system at run time: every
module must be imported at the top level (an import inside a function fails), and with
``--stub-wasi`` (the default of build.py) anything that needs WASI (``print``, ``time``,
``random``, ``os.urandom``) traps. Use ``log`` for output.

Over 400 lines: the SDK is one module an author copies beside their adapter (componentize-py
bundles it from there); splitting it would make that copy several files.
"""

import hashlib
import json
import re

from componentize_py_types import Err
from wit_world.imports import http as wit_http
from wit_world.imports import log as wit_log
from wit_world.imports import run_state as wit_run_state
from wit_world.imports import types as wit
from wit_world.exports import checks as wit_checks
from wit_world.exports import manifest as wit_manifest

__all__ = [
    "Config", "RawJson", "Response", "SyncError", "batch_id", "config_auth", "connection_ok",
    "connection_untestable", "encode_query", "error_for_status", "event_from_wit", "event_to_wit",
    "export_adapter", "log", "placement_basic_auth", "placement_bearer", "placement_header",
    "placement_json_body", "request", "run_get", "run_set", "secret_ref", "stable_id", "to_json",
    "with_rejections",
]

# ---------------------------------------------------------------------------------------
# Errors


class SyncError(Exception):
    """Why a call failed; the class decides what the host does next. Raise one from an adapter."""

    def __init__(self, tag, value, message=None):
        super().__init__(message if message is not None else (value if isinstance(value, str) else tag))
        self.tag = tag
        self.value = value

    @classmethod
    def config(cls, message):
        """The config is wrong: the run fails fast."""
        return cls("config", str(message))

    @classmethod
    def unauthorized(cls, message):
        """Credentials refused: the run stops, no retry."""
        return cls("unauthorized", str(message))

    @classmethod
    def transient(cls, message, retry_after_ms=None):
        """Retried with backoff; ``retry_after_ms`` from the server's ``Retry-After``."""
        if retry_after_ms is not None:
            retry_after_ms = min(max(int(retry_after_ms), 0), 2**64 - 1)
        return cls("transient", (retry_after_ms, str(message)), str(message))

    @classmethod
    def rejected(cls, rejections):
        """These records are quarantined; the rest of the batch is sent again."""
        rows = [(str(_get(r, "guid")), _reason(r)) for r in (rejections or [])]
        return cls("rejected", rows, f"{len(rows)} record(s) rejected")

    @classmethod
    def internal(cls, message):
        """Anything else: the run fails."""
        return cls("internal", str(message))

    @classmethod
    def protocol(cls, message):
        """An answer in an unexpected shape: ``transient`` with a message starting
        ``protocol:``; the host retries it a few times (a proxy's error page, a half-written
        answer), then records the run as a protocol failure."""
        return cls.transient(f"protocol: {message}")

    def to_wit(self):
        """The WIT ``sync-error`` variant."""
        if self.tag == "config":
            return wit.SyncError_Config(self.value)
        if self.tag == "unauthorized":
            return wit.SyncError_Unauthorized(self.value)
        if self.tag == "transient":
            retry, message = self.value
            return wit.SyncError_Transient(wit.TransientError(retry_after_ms=retry, message=message))
        if self.tag == "rejected":
            return wit.SyncError_Rejected([wit.Rejection(guid=g, reason=r) for g, r in self.value])
        return wit.SyncError_Internal(str(self.value))


_SYNC_ERROR_CLASSES = (
    wit.SyncError_Config, wit.SyncError_Unauthorized, wit.SyncError_Transient,
    wit.SyncError_Rejected, wit.SyncError_Internal,
)


def _to_sync_error(e):
    """Whatever an adapter raised, as a WIT ``sync-error`` (never raises itself)."""
    try:
        if isinstance(e, SyncError):
            return e.to_wit()
        if isinstance(e, Err) and isinstance(e.value, _SYNC_ERROR_CLASSES):
            return e.value
        return wit.SyncError_Internal(f"{type(e).__name__}: {e}")
    except BaseException:  # noqa: BLE001 - a raise here would trap the instance
        return wit.SyncError_Internal("the adapter raised an error that cannot be described")


def _http_error_to_sync_error(err):
    """``http-error`` -> ``SyncError``, as the Rust SDK classifies it."""
    v = getattr(err, "value", err)
    if isinstance(err, wit_http.HttpError_Denied):
        return SyncError.config(f"request denied: {v}")
    if isinstance(err, wit_http.HttpError_InvalidRequest):
        return SyncError.config(f"invalid request: {v}")
    if isinstance(err, wit_http.HttpError_Timeout):
        return SyncError.transient(f"timeout: {v}")
    if isinstance(err, wit_http.HttpError_Connection):
        return SyncError.transient(f"connection: {v}")
    if isinstance(err, wit_http.HttpError_TooLarge):
        return SyncError.internal(f"too large: {v}")
    if isinstance(err, wit_http.HttpError_BudgetExhausted):
        return SyncError.internal(f"budget: {v}")
    return SyncError.internal(f"http: {err!r}")


# ---------------------------------------------------------------------------------------
# JSON that keeps event payloads as the text they came as


class RawJson:
    """JSON text inserted as is by ``to_json`` (an event's ``data``)."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = str(text)

    def value(self):
        """The payload, parsed."""
        return json.loads(self.text)

    def __repr__(self):
        return f"RawJson({self.text!r})"

    def __eq__(self, other):
        return isinstance(other, RawJson) and other.text == self.text

    def __hash__(self):
        return hash(self.text)


def to_json(value):
    """Compact JSON text (as serde_json and JSON.stringify write it: no spaces, UTF-8), where a
    ``RawJson`` goes in as its own text, so an event's payload is sent byte for byte as it was
    recorded."""
    if isinstance(value, RawJson):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(
            json.dumps(str(k), ensure_ascii=False) + ":" + to_json(v) for k, v in value.items()
        ) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


# ---------------------------------------------------------------------------------------
# Config


class Config:
    """The config of one call. Secret values are references: see ``secret_ref``."""

    def __init__(self, c):
        self.id = c.id
        self.type = c.type
        self.url = c.url
        self.auth = c.auth  # str or None
        self.extra_fields = [(f.name, f.value) for f in c.extra_fields]
        self.secret_names = list(c.secret_names)

    def extra(self, name):
        """The value of an extra field (a reference, for a secret field), or None."""
        for n, v in self.extra_fields:
            if n == name:
                return v
        return None

    def extra_u32(self, name, default):
        """An extra field as a whole number, or ``default`` when absent; a config error if not."""
        v = self.extra(name)
        if v is None:
            return default
        t = v.strip()
        if not re.fullmatch(r"\+?[0-9]+", t) or int(t) > 0xFFFFFFFF:
            raise SyncError.config(f"extra field `{name}` must be a whole number, not {json.dumps(v)}")
        return int(t)

    def has_secret(self, name):
        """Whether the host holds a secret of this name for the call."""
        return name in self.secret_names


def secret_ref(config, name):
    """The reference that stands for the secret ``name`` in this call, exactly as the host
    handed it out in the config's extra fields (it carries the run's token; the host fills in
    the value when it sends, where the secret's placement allows), or None when the config has
    no such secret. Never build a reference yourself: the host fills only those it handed out."""
    if name not in config.secret_names:
        return None
    for n, v in config.extra_fields:
        if n == name:
            return v if v.startswith("{{secret:") else None
    return None


# ---------------------------------------------------------------------------------------
# HTTP

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_METHODS = {
    "get": wit_http.Method.GET, "head": wit_http.Method.HEAD, "post": wit_http.Method.POST,
    "put": wit_http.Method.PUT, "patch": wit_http.Method.PATCH, "delete": wit_http.Method.DELETE,
}


def encode_query(value):
    """Percent-encode a query parameter (all but ``A-Z a-z 0-9 - _ . ~``), as the Rust SDK."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in str(value).encode("utf-8"))


def _pairs(x):
    if not x:
        return []
    return list(x.items()) if isinstance(x, dict) else list(x)


def config_auth(config):
    """What the config says about every request: extra fields named ``header.<Name>`` as
    headers (a secret one as its reference), and with ``auth: "basic"`` basic auth from the
    sync's credentials, else from the ``username`` field and the secret ``password``.
    Returns ``(headers, basic_auth)``, ``basic_auth`` a ``(username, password)`` or None."""
    headers = [(n[len("header."):], v) for n, v in config.extra_fields if n.startswith("header.")]
    basic = None
    if config.auth == "basic":
        cred_password = secret_ref(config, "credentials.password")
        if cred_password is not None:
            basic = (secret_ref(config, "credentials.username") or "", cred_password)
        else:
            password = secret_ref(config, "password")
            if password is None:
                raise SyncError.config(
                    "auth is `basic` but the sync has no credentials and the config no secret `password`"
                )
            basic = (config.extra("username") or "", password)
    return headers, basic


class Response:
    """An HTTP response (secret values never come back: the host refuses such an answer)."""

    def __init__(self, r, url):
        self.status = r.status
        self.headers = list(r.headers)
        self.body = bytes(r.body)
        self.url = url  # where the request went (for error messages)

    def header(self, name):
        """The first header of that name (case-insensitive), or None."""
        n = name.lower()
        for k, v in self.headers:
            if k.lower() == n:
                return v
        return None

    def text(self):
        """The body as text (invalid UTF-8 replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self):
        """The body parsed as JSON; a ``protocol:`` error (see ``SyncError.protocol``) if it
        is not JSON."""
        try:
            return json.loads(self.text())
        except ValueError as e:
            raise SyncError.protocol(
                f"HTTP {self.status} from {self.url}: the answer is not the expected JSON: {e}") from None

    def json_or_default(self, default):
        """The body parsed as JSON, or ``default`` when the body is empty (a 204, or a 200
        saying nothing)."""
        return default if self.text().strip() == "" else self.json()

    def retry_after_ms(self):
        """``Retry-After`` in milliseconds, when given in seconds; else None."""
        v = (self.header("retry-after") or "").strip()
        if not re.fullmatch(r"[0-9]+", v):
            return None
        return min(int(v) * 1000, 2**64 - 1)

    def error_for_status(self):
        """See ``error_for_status``."""
        return error_for_status(self)


def error_for_status(response):
    """The usual classification of a status, each message naming the URL: 2xx returns the
    response; 401 and 403 raise ``unauthorized``; 404 and 410 raise ``config`` (the URL is
    wrong); 408, 425, 429 and 5xx raise ``transient`` (with ``Retry-After`` in ms); anything
    else raises ``internal`` with the start of the body."""
    status, url = response.status, response.url
    if 200 <= status <= 299:
        return response
    excerpt = response.text()[:200]
    if status in (401, 403):
        raise SyncError.unauthorized(f"HTTP {status} from {url}: the server refused the credentials")
    if status in (404, 410):
        raise SyncError.config(f"HTTP {status} from {url}: nothing there; check the config's url")
    if status in (408, 425, 429) or 500 <= status <= 599:
        raise SyncError.transient(f"HTTP {status} from {url}: {excerpt}", response.retry_after_ms())
    raise SyncError.internal(f"HTTP {status} from {url}: {excerpt}")


_NO_JSON = object()


def request(method, url, *, query=None, headers=None, json=_NO_JSON, body=None,  # noqa: A002
            basic_auth=None, timeout_ms=None, config=None):
    """Send one request through the host (``datacollect:external-sync/http.send``).

        request("post", config.url, config=config, json=body)
        request("get", url, query=[("limit", 10), ("since", cursor)], headers={"accept": "application/json"})

    - ``method``: get, head, post, put, patch, delete.
    - ``query``: a dict or a list of pairs, percent-encoded and appended to ``url``; None
      values are left out.
    - ``headers``: a dict or a list of pairs; values may be secret references; None values
      are left out.
    - ``json``: a value sent as JSON (with ``content-type: application/json``; a ``RawJson``
      inside goes as its own text); or ``body``: str or bytes.
    - ``basic_auth``: ``(username, password)``; pass references from ``secret_ref``.
    - ``config``: apply ``config_auth(config)`` (its ``header.<Name>`` fields and basic auth).

    A 3xx, 4xx or 5xx is a ``Response``, not an error: see ``error_for_status``. A refusal by
    the host raises a ``SyncError`` (denied, invalid -> config; timeout, connection ->
    transient; else internal).
    """
    m = _METHODS.get(str(method).lower())
    if m is None:
        raise SyncError.internal(f"unknown HTTP method {method!r}")
    url = str(url)
    for k, v in _pairs(query):
        if v is None:
            continue
        url += ("&" if "?" in url else "?") + encode_query(k) + "=" + encode_query(v)
    hdrs = []
    if config is not None:
        config_headers, config_basic = config_auth(config)
        hdrs.extend(config_headers)
        if basic_auth is None:
            basic_auth = config_basic
    data = None
    if json is not _NO_JSON:
        data = to_json(json).encode("utf-8")
        hdrs.append(("content-type", "application/json"))
    elif body is not None:
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    hdrs.extend((str(k), str(v)) for k, v in _pairs(headers) if v is not None)
    req = wit_http.Request(
        method=m,
        url=url,
        headers=hdrs,
        body=data,
        basic_auth=None if basic_auth is None else wit_http.BasicAuth(
            username=str(basic_auth[0]), password=str(basic_auth[1])),
        timeout_ms=timeout_ms,
    )
    try:
        return Response(wit_http.send(req), url)
    except Err as e:
        raise _http_error_to_sync_error(e.value) from None


# ---------------------------------------------------------------------------------------
# Events

_LEVEL_TO_WIRE = {wit.SyncLevel.LOCAL: 0, wit.SyncLevel.REMOTE: 1, wit.SyncLevel.EXTERNAL: 2}
_LEVEL_FROM_WIRE = [wit.SyncLevel.LOCAL, wit.SyncLevel.REMOTE, wit.SyncLevel.EXTERNAL]


def event_from_wit(e):
    """A WIT ``form-submission`` as an event in the DataCollect wire shape: a dict with
    ``guid, entityGuid, type, data, timestamp, userId, syncLevel`` (0, 1, 2), its ``data`` a
    ``RawJson`` (``data.value()`` parses it; ``to_json`` sends it as it came)."""
    return {
        "guid": e.guid,
        "entityGuid": e.entity_guid,
        "type": e.type,
        "data": RawJson(e.data),
        "timestamp": e.timestamp,
        "userId": e.user_id,
        "syncLevel": _LEVEL_TO_WIRE[e.sync_level],
    }


def event_to_wit(e, index=0):
    """An event in the wire shape (e.g. from a pulled JSON answer) as a WIT
    ``form-submission``. ``guid`` and ``userId`` default to empty (the host derives a guid),
    ``syncLevel`` to 2 (external). An event in another shape is a ``protocol:`` error, as when
    the Rust SDK cannot read an answer."""
    where = f"pulled event {index}"
    if not isinstance(e, dict):
        raise SyncError.protocol(f"{where}: not an object")
    for k in ("entityGuid", "type", "timestamp"):
        if not isinstance(e.get(k), str):
            raise SyncError.protocol(f"{where}: `{k}` must be a string")
    if "data" not in e:
        raise SyncError.protocol(f"{where}: `data` is missing")
    level = e.get("syncLevel", 2)
    if level is None:
        level = 2
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 2:
        raise SyncError.protocol(f"{where}: syncLevel must be 0, 1 or 2, not {level!r}")
    data = e["data"]
    return wit.FormSubmission(
        guid="" if e.get("guid") is None else str(e["guid"]),
        entity_guid=e["entityGuid"],
        type=e["type"],
        data=data.text if isinstance(data, RawJson) else to_json(data),
        timestamp=e["timestamp"],
        user_id="" if e.get("userId") is None else str(e["userId"]),
        sync_level=_LEVEL_FROM_WIRE[level],
    )


def _get(r, key):
    return r.get(key) if isinstance(r, dict) else getattr(r, key, None)


def _reason(r):
    reason = _get(r, "reason")
    return "" if reason is None else str(reason)


def with_rejections(events, rejected):
    """A push result for the batch ``events`` with the receiver's ``rejected``
    (``[{"guid", "reason"}]``) refused and the rest accepted. Rejections of guids that are not
    in the batch, and repeats, are dropped: a receiver that over-reports cannot make the count
    go wrong. Returns ``{"accepted", "rejected", "remote_ref"}``. ``events`` may also be the
    batch ``push_encoded`` was given (its ``guids``)."""
    encoded = isinstance(events, dict) and isinstance(events.get("events"), str)
    if encoded and not (isinstance(rejected, list) and rejected):
        return {"accepted": events["count"], "rejected": [], "remote_ref": None}
    # An encoded batch's guids are read from its text only when something was refused.
    guids = [e["guid"] for e in (json.loads(events["events"]) if encoded else events)]
    in_batch = set(guids)
    seen = set()
    rows = []
    for r in rejected if isinstance(rejected, list) else []:
        guid = _get(r, "guid")
        if guid is None:
            continue
        guid = str(guid)
        if guid not in in_batch or guid in seen:
            continue
        seen.add(guid)
        rows.append({"guid": guid, "reason": _reason(r)})
    return {"accepted": len(guids) - len(rows), "rejected": rows, "remote_ref": None}


def batch_id(events):
    """A stable id for a batch (the same as the Rust SDK's ``batch_id``): the same events give
    the same id, so a receiver can drop a batch delivered twice (delivery is at least once)."""
    h = hashlib.sha256()
    for e in events:
        h.update(e["guid"].encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:32]


def stable_id(parts):
    """A short stable id for a list of parts (the same as the Rust SDK's ``stable_id``)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(str(p).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:32]


# ---------------------------------------------------------------------------------------
# Host services

_LEVELS = {
    "trace": wit_log.Level.TRACE, "debug": wit_log.Level.DEBUG, "info": wit_log.Level.INFO,
    "warn": wit_log.Level.WARN, "error": wit_log.Level.ERROR,
}


def log(level, message, fields=None):
    """Log into the host's log, tagged with this adapter (rate-limited). ``level``: trace,
    debug, info, warn, error; ``fields``: a dict or a list of pairs."""
    wit_log.log(_LEVELS[level], str(message), [(str(k), str(v)) for k, v in _pairs(fields)])


def run_get(key):
    """A value stored earlier in this sync run, or None."""
    return wit_run_state.get(key)


def run_set(key, value):
    """Keep ``value`` for the rest of this sync run; False when the run's store is full."""
    return wit_run_state.set(key, str(value))


# ---------------------------------------------------------------------------------------
# Placements and connection checks

placement_basic_auth = wit_manifest.Placement_BasicAuth()
placement_bearer = wit_manifest.Placement_Bearer()


def placement_header(name):
    """The secret may be the value of this request header."""
    return wit_manifest.Placement_Header(str(name))


def placement_json_body(path, pointer):
    """The secret may be the whole string at JSON pointer ``pointer`` of a JSON body sent to
    ``path`` of the config's origin (the operator must approve it)."""
    return wit_manifest.Placement_JsonBody(wit_manifest.JsonBodyPlacement(path=str(path), pointer=str(pointer)))


def _placement_to_wit(p):
    if p in ("basic-auth", "basic_auth"):
        return placement_basic_auth
    if p == "bearer":
        return placement_bearer
    if isinstance(p, (wit_manifest.Placement_BasicAuth, wit_manifest.Placement_Bearer,
                      wit_manifest.Placement_Header, wit_manifest.Placement_JsonBody)):
        return p
    if isinstance(p, dict) and "header" in p:
        return placement_header(p["header"])
    if isinstance(p, dict) and "json_body" in p:
        return placement_json_body(p["json_body"]["path"], p["json_body"]["pointer"])
    raise TypeError(f"not a placement: {p!r}")


def connection_ok(message):
    """``check_connection``: the system accepted the credentials; what was tried."""
    return wit_checks.ConnectionCheck_Ok(str(message))


def connection_untestable(message):
    """``check_connection``: the adapter cannot test without side effects, and says so."""
    return wit_checks.ConnectionCheck_Untestable(str(message))


# ---------------------------------------------------------------------------------------
# The adapter


def _field_to_wit(f):
    default = f.get("default")
    return wit.FieldSpec(
        name=str(f["name"]),
        required=bool(f.get("required", False)),
        secret=bool(f.get("secret", False)),
        default=None if default is None else str(default),
        description=str(f.get("description", "")),
    )


def _info_to_wit(i, encoded=False):
    # ``encoded-push`` is declared by the SDK, exactly when the adapter has ``push_encoded``:
    # one listed without it would have every push fail.
    capabilities = [str(c) for c in i.get("capabilities", ["push", "pull"]) if c != "encoded-push"]
    if encoded and "push" in capabilities:
        capabilities.append("encoded-push")
    return wit.AdapterInfo(
        type=str(i["type"]),
        name=str(i["name"]),
        version=str(i["version"]),
        capabilities=capabilities,
        config_fields=[_field_to_wit(f) for f in i.get("config_fields", [])],
    )


def _push_result_to_wit(r, count):
    if r is None:
        return wit.PushResult(accepted=count, rejected=[], remote_ref=None)
    rejected = [wit.Rejection(guid=str(_get(x, "guid")), reason=_reason(x)) for x in (_get(r, "rejected") or [])]
    accepted = _get(r, "accepted")
    remote_ref = _get(r, "remote_ref")
    return wit.PushResult(
        accepted=count - len(rejected) if accepted is None else int(accepted),
        rejected=rejected,
        remote_ref=None if remote_ref is None else str(remote_ref),
    )


def _pull_page_to_wit(p):
    p = p or {}
    next_cursor = _get(p, "next_cursor")
    return wit.PullPage(
        events=[event_to_wit(e, i) for i, e in enumerate(_get(p, "events") or [])],
        next_cursor=None if next_cursor is None else str(next_cursor),
        has_more=bool(_get(p, "has_more")),
    )


def export_adapter(impl):
    """Turn a plain adapter object into the classes componentize-py calls for the three
    exported interfaces; bind them in the app module:

        Adapter, Manifest, Checks = export_adapter(MyAdapter())

    ``impl`` has:

    - ``describe()`` -> ``{"type", "name", "version", "capabilities"?, "config_fields"?:
      [{"name", "description", "required"?, "secret"?, "default"?}]}``
    - ``push(config, events)`` -> ``with_rejections(events, rejected)`` (or None: all accepted)
    - optionally ``push_encoded(config, batch)`` (contract 1.2), ``batch`` a dict ``{"events":
      JSON text of the events, "count", "batch_id"}`` -> as ``push``. With it the host hands
      every batch over as that one text instead of calling ``push``: an adapter that sends
      events on as they are puts ``batch["events"]`` into its body unchanged, with no
      per-event work in the interpreter (the adapter is then declared ``encoded-push``).
    - ``pull(config, cursor, limit)`` -> ``{"events", "next_cursor", "has_more"}``; ``cursor``
      is a str or None
    - optionally ``secret_placements()`` -> ``[{"secret", "placements": ["basic-auth",
      {"header": "x-key"}, ...]}]``, ``validate(config)`` -> ``[{"field", "message"}]`` (no
      I/O), ``check_connection(config)`` -> ``connection_ok(...)`` or
      ``connection_untestable(...)``.

    ``config`` is a ``Config``; ``events`` are dicts in the DataCollect wire shape (see
    ``event_from_wit``). Whatever ``push``, ``pull`` and ``check_connection`` raise becomes a
    ``sync-error`` (``SyncError`` keeps its class; anything else is ``internal``). ``sync``
    (the ``custom-sync`` capability) is not supported by this SDK: it answers an ``internal``
    error.
    """
    for name in ("describe", "push", "pull"):
        if not callable(getattr(impl, name, None)):
            raise TypeError(f"export_adapter: the adapter needs a `{name}` method")

    def guarded(f):
        try:
            return f()
        except Err:
            raise
        except Exception as e:  # noqa: BLE001 - anything else would trap the instance
            raise Err(_to_sync_error(e)) from None

    encoded = callable(getattr(impl, "push_encoded", None))

    class Adapter:
        def describe(self):
            return _info_to_wit(impl.describe(), encoded)

        def push_batch(self, config, events):
            def run():
                result = impl.push(Config(config), [event_from_wit(e) for e in events])
                return _push_result_to_wit(result, len(events))
            return guarded(run)

        def pull_since(self, config, cursor, limit):
            return guarded(lambda: _pull_page_to_wit(impl.pull(Config(config), cursor, limit)))

        def sync(self, config):
            raise Err(wit.SyncError_Internal("custom-sync is not supported by the Python adapter SDK"))

    class Manifest:
        def secret_placements(self):
            f = getattr(impl, "secret_placements", None)
            if f is None:
                return None
            rows = f()
            if rows is None:
                return None
            return [
                wit_manifest.SecretPlacement(
                    secret=str(_get(s, "secret")),
                    placements=[_placement_to_wit(p) for p in (_get(s, "placements") or [])],
                )
                for s in rows
            ]

    class Checks:
        def validate(self, config):
            f = getattr(impl, "validate", None)
            if f is None:
                return []
            return [
                wit_checks.FieldProblem(field=str(_get(p, "field")), message=str(_get(p, "message")))
                for p in (f(Config(config)) or [])
            ]

        def check_connection(self, config):
            f = getattr(impl, "check_connection", None)
            if f is None:
                return connection_untestable("this adapter has no connection test")

            def run():
                c = f(Config(config))
                if isinstance(c, (wit_checks.ConnectionCheck_Ok, wit_checks.ConnectionCheck_Untestable)):
                    return c
                raise SyncError.internal(
                    "check_connection must return connection_ok(...) or connection_untestable(...)")
            return guarded(run)

    class EncodedPush:
        def push_encoded(self, config, batch):
            if not encoded:
                raise Err(wit.SyncError_Internal("this adapter takes no encoded batches (it has no push_encoded)"))

            def run():
                given = {"events": batch.events, "count": batch.count, "batch_id": batch.batch_id}
                return _push_result_to_wit(impl.push_encoded(Config(config), given), batch.count)
            return guarded(run)

    # The fourth export (1.2) is bound by the build's entry module, so an app written for 1.1
    # (``Adapter, Manifest, Checks = export_adapter(...)``) builds unchanged.
    global _encoded_push_export
    _encoded_push_export = EncodedPush
    return Adapter, Manifest, Checks


_encoded_push_export = None


def encoded_push_export(default=None):
    """The ``encoded-push`` export class of the adapter ``export_adapter`` made (the build's
    entry module binds it as ``EncodedPush``), or ``default`` when it was never called."""
    return default if _encoded_push_export is None else _encoded_push_export
