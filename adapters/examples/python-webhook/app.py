"""A generic webhook adapter in Python, type `python-webhook`: the same protocol as the Rust
`custom-adapter` (adapters/custom), built with `python adapters/sdk-py/build.py`.

Push: `POST {url}` with `{"events": [...], "batchId": "..."}`; the server answers 2xx,
optionally with `{"rejected": [{"guid", "reason"}]}`.
Pull: `GET {url}?limit=<n>&since=<cursor>`, answered with
`{"events": [...], "next": "<cursor>" | null, "hasMore": bool}`.
Auth (`config=` in `request`): with `"auth": "basic"`, the sync's credentials, else the
`username` and secret `password` fields; extra fields `header.<Name>` become headers.
"""
import json

from datacollect_sdk import (SyncError, batch_id, error_for_status, export_adapter,
                             placement_basic_auth, request, with_rejections)


def rejections(res, config, batch):
    """What the receiver refused, from its answer to a push."""
    answer = error_for_status(res).json_or_default({})
    if not isinstance(answer, dict) or not isinstance(answer.get("rejected", []), list):
        raise SyncError.protocol(f"answer from {config.url}: `rejected` is not a list")
    return with_rejections(batch, answer.get("rejected", []))


class PythonWebhook:
    def describe(self):
        return {
            "type": "python-webhook",
            "name": "Generic webhook (Python)",
            "version": "1.0.0",
            "config_fields": [
                {"name": "username", "description": "Basic-auth user, when no credentials are given"},
                {"name": "password", "description": "Basic-auth password", "secret": True},
                {"name": "header.<Name>", "description": "Any number of extra request headers"},
            ],
        }

    def secret_placements(self):
        return [{"secret": s, "placements": [placement_basic_auth]}
                for s in ("password", "credentials.username", "credentials.password")]

    def push(self, config, events):
        res = request("post", config.url, config=config, json={"events": events, "batchId": batch_id(events)})
        return rejections(res, config, events)

    def push_encoded(self, config, batch):
        # The same body around the host's encoded batch (contract 1.2): the events go on as
        # the JSON text they came as, with no per-event work in the interpreter.
        body = '{"events":%s,"batchId":%s}' % (batch["events"], json.dumps(batch["batch_id"]))
        res = request("post", config.url, config=config, body=body.encode("utf-8"),
                      headers={"content-type": "application/json"})
        return rejections(res, config, batch)

    def pull(self, config, cursor, limit):
        res = request("get", config.url, query=[("limit", limit), ("since", cursor)], config=config)
        answer = error_for_status(res).json()
        if not isinstance(answer, dict) or not isinstance(answer.get("events"), list):
            raise SyncError.protocol(f"answer from {config.url} has no `events` list")
        next_cursor = answer.get("next")
        return {"events": answer["events"], "next_cursor": cursor if next_cursor is None else next_cursor,
                "has_more": answer.get("hasMore") is True}


Adapter, Manifest, Checks = export_adapter(PythonWebhook())
