"""A generic webhook adapter in Python, type `python-webhook`: the same protocol as the Rust
`custom-adapter` (adapters/custom), built with `python adapters/sdk-py/build.py`.

Push: `POST {url}` with `{"events": [...], "batchId": "..."}`; the server answers 2xx,
optionally with `{"rejected": [{"guid", "reason"}]}`.
Pull: `GET {url}?limit=<n>&since=<cursor>`, answered with
`{"events": [...], "next": "<cursor>" | null, "hasMore": bool}`.
Auth (`config=` in `request`): with `"auth": "basic"`, the sync's credentials, else the
`username` and secret `password` fields; extra fields `header.<Name>` become headers.
"""
from datacollect_sdk import (SyncError, batch_id, error_for_status, export_adapter,
                             placement_basic_auth, request, with_rejections)


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
        answer = error_for_status(res).json_or_default({})
        if not isinstance(answer, dict) or not isinstance(answer.get("rejected", []), list):
            raise SyncError.protocol(f"answer from {config.url}: `rejected` is not a list")
        return with_rejections(events, answer.get("rejected", []))

    def pull(self, config, cursor, limit):
        res = request("get", config.url, query=[("limit", limit), ("since", cursor)], config=config)
        answer = error_for_status(res).json()
        if not isinstance(answer, dict) or not isinstance(answer.get("events"), list):
            raise SyncError.protocol(f"answer from {config.url} has no `events` list")
        next_cursor = answer.get("next")
        return {"events": answer["events"], "next_cursor": cursor if next_cursor is None else next_cursor,
                "has_more": answer.get("hasMore") is True}


Adapter, Manifest, Checks = export_adapter(PythonWebhook())
