'use strict';
// ExternalSyncManager as DataCollect's server uses it: initialize, isInitialized,
// synchronize, and what a server needs around them.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { ExternalSyncManager, DcsyncError } = require('..');
const native = require(process.env.DCSYNC_NODE_ADDON || path.join(__dirname, '..', 'dcsync.node'));
const { adapterDir, mockServer, scratch, events } = require('./helpers');

const PASSWORD = 'Node-Secret-Passw0rd-4417';

function manager(t, config, adapters, store) {
  const m = new ExternalSyncManager({
    store: store ?? path.join(scratch(t), 'events.db'),
    config,
    adapters,
  });
  t.after(() => m.close());
  return m;
}

test('an unknown type stays uninitialized and synchronize rejects first', async (t) => {
  const dir = adapterDir(t, ['mock_sync_server.wasm']);
  const m = manager(t, { type: 'no-such-adapter', url: 'http://127.0.0.1:1' }, dir);
  assert.equal(m.isInitialized(), false);
  await m.initialize();
  assert.equal(m.isInitialized(), false);
  await assert.rejects(m.synchronize(), (e) => {
    assert.ok(e instanceof DcsyncError && e instanceof Error);
    assert.equal(e.message, 'Adapter not initialized');
    assert.equal(typeof e.code, 'string');
    return true;
  });
});

test('initialize then synchronize pushes imported events to the mock server and pulls', async (t) => {
  const config = await mockServer(t, 'mock-sync');
  const dir = adapterDir(t, ['mock_sync_server.wasm']);
  // Wrapped, as the server's app config holds it.
  const m = manager(t, { externalSync: config }, dir);
  await m.initialize();
  assert.equal(m.isInitialized(), true);
  const imported = await m.importEvents(events('node', 5));
  assert.equal(imported.applied, 5);
  const report = await m.synchronize();
  assert.equal(report.status, 'succeeded');
  assert.equal(report.pushed, 5);
  // `dcsync mock-server` seeds sample records: the pull brings them in.
  assert.ok(report.pulled > 0, JSON.stringify(report));
  assert.equal(report.applied, report.pulled);
  const status = await m.status();
  assert.equal(status.pending, 0);
  assert.equal(status.lastRun.id, report.runId);
  const runs = await m.runs(10);
  assert.deepEqual(runs.map((r) => r.status), ['succeeded']);
  // A second sync finds nothing new.
  const again = await m.synchronize();
  assert.deepEqual([again.pushed, again.applied], [0, 0]);
  const listed = await m.adapters();
  assert.ok(listed.some((a) => a.status === 'loaded' && a.type === 'mock-sync-server'));
});

test('bad input is refused with a clear error and stores nothing', async (t) => {
  const dir = adapterDir(t, ['mock_sync_server.wasm']);
  assert.throws(() => new ExternalSyncManager({ config: {} }), (e) => e.code === 'config' && /options.store/.test(e.message));
  assert.throws(
    () => new ExternalSyncManager({ store: path.join(scratch(t), 'x.db'), config: { url: 'http://x' } }),
    (e) => e.code === 'config' && /type/.test(e.message),
  );
  const m = manager(t, { type: 'mock-sync-server', url: 'http://127.0.0.1:1/mock-sync' }, dir);
  const bad = events('bad', 3);
  bad[2].syncLevel = 7;
  await assert.rejects(m.importEvents(bad), (e) => e.code === 'config' && /events\[2\]/.test(e.message));
  assert.equal((await m.status()).pending, 0);
});

test("a failing sync rejects with its error class, and the run says the same", async (t) => {
  const config = await mockServer(t, 'mock-sync', [{ status: 401, times: 1000 }]);
  const dir = adapterDir(t, ['mock_sync_server.wasm']);
  const m = manager(t, config, dir);
  await m.initialize();
  await m.importEvents(events('fail', 2));
  await assert.rejects(m.synchronize({ username: 'registrar', password: PASSWORD }), (e) => {
    assert.equal(e.code, 'unauthorized', e.message);
    assert.ok(!e.message.includes(PASSWORD), e.message);
    return true;
  });
  const [run] = await m.runs(1);
  assert.equal(run.status, 'failed');
  assert.equal(run.errorClass, 'unauthorized');
  assert.equal((await m.status()).pending, 2, 'nothing counted delivered');
});

test('credentials reach the adapter only as references', async (t) => {
  const config = await mockServer(t, 'mock-sync');
  const dir = adapterDir(t, ['hostile.wasm']);
  // This attack makes the adapter answer, in its error, the config it was handed.
  const m = manager(
    t,
    { type: 'hostile', url: config.url, extraFields: [{ name: 'attack', value: 'dump-config' }] },
    dir,
  );
  await m.initialize();
  await m.importEvents(events('refs', 1));
  await assert.rejects(m.synchronize({ username: 'registrar', password: PASSWORD }), (e) => {
    assert.ok(!e.message.includes(PASSWORD), e.message);
    assert.match(e.message, /\{\{secret:credentials\.password:/, e.message);
    return true;
  });
  const [run] = await m.runs(1);
  assert.ok(!JSON.stringify(run).includes(PASSWORD));
});

test('no secret in any thrown error or log line', async (t) => {
  // A child process with every log on: the same sync as above, its stderr kept.
  const config = await mockServer(t, 'mock-sync', [{ status: 401, times: 1000 }]);
  const dir = adapterDir(t, ['mock_sync_server.wasm']);
  const store = path.join(scratch(t), 'events.db');
  const script = `
    const { ExternalSyncManager } = require(${JSON.stringify(path.join(__dirname, '..'))});
    (async () => {
      const m = new ExternalSyncManager({ store: ${JSON.stringify(store)}, adapters: ${JSON.stringify(dir)},
        config: ${JSON.stringify({ ...config, extraFields: [{ name: 'apiKey', value: PASSWORD + '-key' }] })} });
      await m.initialize();
      await m.importEvents(${JSON.stringify(events('log', 2))});
      try { await m.synchronize({ username: 'registrar', password: ${JSON.stringify(PASSWORD)} }); }
      catch (e) { console.log('ERROR ' + e.code + ' ' + e.message + ' ' + JSON.stringify(e)); }
      await m.close();
    })();`;
  const r = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, DCSYNC_LOG: 'trace' },
    encoding: 'utf8',
    timeout: 120000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ERROR unauthorized/);
  assert.ok(r.stderr.length > 1000, `logging was on: ${r.stderr.slice(0, 200)}`);
  for (const text of [r.stdout, r.stderr]) {
    assert.ok(!text.includes(PASSWORD), 'a secret in the output');
  }
});

test('two managers on two stores run at once, on one engine', async (t) => {
  const [a, b] = await Promise.all([mockServer(t, 'mock-sync'), mockServer(t, 'mock-sync')]);
  const dir = adapterDir(t, ['mock_sync_server.wasm']);
  const ma = manager(t, a, dir);
  const mb = manager(t, b, dir);
  await Promise.all([ma.initialize(), mb.initialize()]);
  await ma.importEvents(events('a', 3));
  await mb.importEvents(events('b', 7));
  const [ra, rb] = await Promise.all([ma.synchronize(), mb.synchronize()]);
  assert.deepEqual([ra.pushed, rb.pushed], [3, 7]);
  assert.equal(native.engineCount(), 1);
});

test('the event loop stays free while a sync runs', async (t) => {
  const config = await mockServer(t, 'mock-sync');
  const dir = adapterDir(t, ['mock_sync_server.wasm']);
  const m = manager(t, config, dir);
  await m.initialize();
  await m.importEvents(events('loop', 200));
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const report = await m.synchronize();
  clearInterval(timer);
  assert.equal(report.pushed, 200);
  // A blocked loop would run no timer callback until the sync ended.
  assert.ok(ticks > 0, 'no timer ran during the sync');
});

test('close releases the store and later calls say closed', async (t) => {
  const config = await mockServer(t, 'mock-sync');
  const dir = adapterDir(t, ['mock_sync_server.wasm']);
  const store = path.join(scratch(t), 'events.db');
  const first = new ExternalSyncManager({ store, config, adapters: dir });
  await first.initialize();
  await first.importEvents(events('close', 2));
  await first.close();
  await first.close();
  await assert.rejects(first.synchronize(), (e) => e.code === 'closed');
  await assert.rejects(first.status(), (e) => e.code === 'closed');
  // Another manager on the same store and config syncs: nothing was left locked.
  const second = manager(t, config, dir, store);
  await second.initialize();
  assert.equal((await second.synchronize()).pushed, 2);
});

test('a postgres:// store with its tenant', async (t) => {
  const url = process.env.DCSYNC_TEST_DATABASE_URL;
  assert.ok(
    url,
    'DCSYNC_TEST_DATABASE_URL is not set: run these tests with `make test` (tests/tests/node_package.rs starts a throwaway PostgreSQL) or point it at an empty database',
  );
  const config = await mockServer(t, 'mock-sync');
  const dir = adapterDir(t, ['mock_sync_server.wasm']);
  const m1 = manager(t, config, dir, `${url}?tenant=app-one`);
  const m2 = manager(t, config, dir, `${url}?tenant=app-two`);
  await Promise.all([m1.initialize(), m2.initialize()]);
  await m1.importEvents(events('pg1', 4));
  await m2.importEvents(events('pg2', 1));
  const [r1, r2] = await Promise.all([m1.synchronize(), m2.synchronize()]);
  assert.deepEqual([r1.pushed, r2.pushed], [4, 1]);
  assert.equal((await m1.status()).pending, 0);
  // A password in the URL is refused, and not echoed.
  const withPassword = url.replace('://', '://user:Hunter2-Secret@');
  assert.throws(
    () => new ExternalSyncManager({ store: `${withPassword}?tenant=x`, config, adapters: dir }),
    (e) => e.code === 'config' && !e.message.includes('Hunter2-Secret'),
  );
});
