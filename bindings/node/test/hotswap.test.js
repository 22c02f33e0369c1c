'use strict';
// A new build dropped into the adapter directory reaches a live manager.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ExternalSyncManager } = require('..');
const { TEST_ADAPTERS, adapterDir, mockServer, scratch, events } = require('./helpers');

async function until(what, check, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a hot swap in the adapter directory is picked up by a live manager', async (t) => {
  const server = await mockServer(t, 'mock-sync');
  const dir = adapterDir(t, ['mock_sync_server.wasm']);
  const m = new ExternalSyncManager({ store: path.join(scratch(t), 'e.db'), adapters: dir, config: server });
  t.after(() => m.close());
  await m.initialize();
  await m.importEvents(events('swap', 1));
  const before = await m.synchronize();
  assert.notEqual(before.adapterVersion, '1.1.0');

  // Written beside, then renamed in: the way to publish a file atomically.
  const tmp = path.join(dir, '.next.tmp');
  fs.copyFileSync(path.join(TEST_ADAPTERS, 'mock_sync_server_next.wasm'), tmp);
  fs.renameSync(tmp, path.join(dir, 'mock_sync_server.wasm'));
  await until('version 1.1.0 to load', async () =>
    (await m.adapters()).some((a) => a.status === 'loaded' && a.version === '1.1.0'),
  );
  await m.importEvents(events('swapped', 1).map((e) => ({ ...e, guid: 'after-swap' })));
  const after = await m.synchronize();
  assert.equal(after.adapterVersion, '1.1.0');
  assert.equal(after.pushed, 1);
});
