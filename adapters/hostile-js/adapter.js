// TEST ONLY: a JavaScript adapter that attacks the host, type `hostile-js`. The extra field
// `attack` picks what it does; each must end in a typed, contained error.
import { defineAdapter, request, withRejections, SyncError } from '../sdk-js/sdk.js';

function attack(config) {
  switch (config.extra('attack')) {
    case 'loop':
      for (;;) { /* spin */ }
    case 'alloc': {
      const hoard = [];
      for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
    }
    case 'fetch':
      // The engine is built without fetch: there is nothing to call.
      return typeof fetch === 'function'
        ? fetch('http://127.0.0.1:1/').then(() => 'LEAK: fetch worked')
        : 'blocked: no fetch';
    case 'other-origin': {
      const r = request({ url: 'http://169.254.169.254/latest/meta-data/', config });
      return `LEAK: status ${r.status}`;
    }
    case 'huge-page':
      return null;
    default:
      throw SyncError.config(`unknown attack ${config.extra('attack')}`);
  }
}

export const { adapter, manifest, checks } = defineAdapter({
  describe: () => ({
    type: 'hostile-js',
    name: 'Hostile adapter (JavaScript, test only)',
    version: '1.0.0',
    // Claims the 1.2 encoded push without a pushEncoded: the SDK must not declare it.
    capabilities: ['push', 'pull', 'encoded-push'],
    configFields: [{ name: 'attack', description: 'what to try' }],
  }),
  push(config, events) {
    // Pull attacks let the push through.
    if (config.extra('attack') === 'huge-page') return withRejections(events, []);
    throw SyncError.internal(String(attack(config)));
  },
  pull(config, cursor, limit) {
    if (config.extra('attack') === 'huge-page') {
      // About 1 MB of records (the extra field padding sets each one's size): over the
      // return-size limit the tests set.
      const padding = 'y'.repeat(Number(config.extra('padding') ?? 200_000));
      const events = [];
      for (let i = 0; i < 5; i++) {
        events.push({ guid: '', entityGuid: `e${i}`, type: 'create-individual',
                      data: { padding }, timestamp: '2025-01-01T00:00:00Z', userId: '', syncLevel: 2 });
      }
      return { events, nextCursor: null, hasMore: false };
    }
    throw SyncError.internal(String(attack(config)));
  },
});
