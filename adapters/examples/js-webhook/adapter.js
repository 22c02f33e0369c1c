// A generic webhook adapter in JavaScript, type `js-webhook`: the same protocol as the Rust
// `custom-adapter` (adapters/custom), built with `node adapters/sdk-js/build.mjs`.
//
// Push: `POST {url}` with `{"events": [...], "batchId": "..."}`; the server answers 2xx,
// optionally with `{"rejected": [{"guid", "reason"}]}`.
// Pull: `GET {url}?limit=<n>&since=<cursor>`, answered with
// `{"events": [...], "next": "<cursor>" | null, "hasMore": bool}`.
// Auth (`config` in `request`): with `"auth": "basic"`, the sync's credentials, else the
// `username` and secret `password` fields; extra fields `header.<Name>` become headers.
import { defineAdapter, request, errorForStatus, withRejections, batchId, placement, SyncError } from '../../sdk-js/sdk.js';

// What the receiver refused, from its answer to a push.
function rejections(res, config, batch) {
  const answer = errorForStatus(res).jsonOrDefault({});
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer) || !Array.isArray(answer.rejected ?? [])) {
    throw SyncError.protocol(`answer from ${config.url}: \`rejected\` is not a list`);
  }
  return withRejections(batch, answer.rejected ?? []);
}

export const { adapter, manifest, checks } = defineAdapter({
  describe: () => ({
    type: 'js-webhook',
    name: 'Generic webhook (JavaScript)',
    version: '1.0.0',
    configFields: [
      { name: 'username', description: 'Basic-auth user, when no credentials are given' },
      { name: 'password', description: 'Basic-auth password', secret: true },
      { name: 'header.<Name>', description: 'Any number of extra request headers' },
    ],
  }),

  secretPlacements: () =>
    ['password', 'credentials.username', 'credentials.password'].map((secret) => ({
      secret,
      placements: [placement.basicAuth],
    })),

  push(config, events) {
    const res = request({ method: 'post', url: config.url, config, json: { events, batchId: batchId(events) } });
    return rejections(res, config, events);
  },

  // The same body around the host's encoded batch (contract 1.2): the events go on as the
  // JSON text they came as, with no per-event work in the engine.
  pushEncoded(config, batch) {
    const body = `{"events":${batch.events},"batchId":${JSON.stringify(batch.batchId)}}`;
    const res = request({ method: 'post', url: config.url, config, body, headers: { 'content-type': 'application/json' } });
    return rejections(res, config, batch);
  },

  pull(config, cursor, limit) {
    const res = request({ url: config.url, query: [['limit', limit], ['since', cursor]], config });
    const answer = errorForStatus(res).json();
    if (!Array.isArray(answer?.events)) throw SyncError.protocol(`answer from ${config.url} has no \`events\` list`);
    return { events: answer.events, nextCursor: answer.next ?? cursor, hasMore: answer.hasMore === true };
  },
});
