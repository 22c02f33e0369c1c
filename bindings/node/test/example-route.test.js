'use strict';
// The example route end to end: the original's request and answer shapes over HTTP.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const express = require('express');
const { syncRouter } = require('../examples/sync-route');
const { ExternalSyncManager } = require('..');
const { adapterDir, mockServer, scratch, events } = require('./helpers');

async function post(base, body) {
  const r = await fetch(`${base}/api/sync/external`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return [r.status, await r.json()];
}

test('POST /api/sync/external answers as the original server does', async (t) => {
  const good = await mockServer(t, 'mock-sync');
  const refusing = await mockServer(t, 'mock-sync', [{ status: 401, times: 1000 }]);
  const dir = adapterDir(t, ['mock_sync_server.wasm']);
  const tmp = scratch(t);
  const apps = {
    default: { store: path.join(tmp, 'default.db'), config: { externalSync: good } },
    locked: { store: path.join(tmp, 'locked.db'), config: refusing },
  };
  // Events the server stored before the sync.
  const seed = new ExternalSyncManager({ store: apps.default.store, config: good, adapters: dir });
  await seed.importEvents(events('route', 4));
  await seed.close();

  const router = syncRouter(apps, { adapters: dir });
  const app = express();
  app.use(router);
  const server = app.listen(0);
  t.after(async () => {
    server.close();
    await router.close();
  });
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${server.address().port}`;

  assert.deepEqual(await post(base, {}), [200, { status: 'success' }]);
  const password = 'Route-Secret-9931';
  const [code, failed] = await post(base, { configId: 'locked', credentials: { username: 'u', password } });
  assert.equal(code, 200);
  assert.deepEqual(failed, {
    status: 'error',
    message: 'Failed to sync with external system',
    details: { code: 'unauthorized', name: 'DcsyncError' },
  });
  assert.deepEqual(await post(base, { configId: 'nope' }), [
    200,
    { status: 'error', message: 'App instance not found' },
  ]);

  // The sync the route ran delivered what the server had stored.
  const check = new ExternalSyncManager({ store: apps.default.store, config: good, adapters: dir });
  t.after(() => check.close());
  const [last] = await check.runs(1);
  assert.equal(last.status, 'succeeded');
  assert.equal(last.pushed, 4);
});
