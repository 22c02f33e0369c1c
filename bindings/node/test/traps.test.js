'use strict';
// wasmtime and V8 both handle signals (a WebAssembly trap is a fault caught by a signal
// handler in each). Adapters trapping in every way while Node runs JavaScript and V8's own
// WebAssembly traps: both keep working, and so does the process.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { ExternalSyncManager } = require('..');
const { adapterDir, mockServer, scratch, events } = require('./helpers');

// (module (memory 1) (func (export "oob") (result i32) (i32.load (i32.const 70000))))
const OOB = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x02, 0x01,
  0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x07, 0x01, 0x03, 0x6f, 0x6f, 0x62, 0x00, 0x00, 0x0a, 0x0b, 0x01,
  0x09, 0x00, 0x41, 0xf0, 0xa2, 0x04, 0x28, 0x02, 0x00, 0x0b,
]);

/** V8 traps on an out-of-bounds load; count the traps it caught. */
function v8Traps(instance, n) {
  let caught = 0;
  for (let i = 0; i < n; i++) {
    try {
      instance.exports.oob();
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) caught++;
      else throw e;
    }
  }
  return caught;
}

test('adapter traps and V8 traps in one process', async (t) => {
  const { instance } = await WebAssembly.instantiate(OOB);
  assert.equal(v8Traps(instance, 10), 10);

  const server = await mockServer(t, 'mock-sync');
  const dir = adapterDir(t, ['hostile.wasm', 'mock_sync_server.wasm']);
  const store = path.join(scratch(t), 'events.db');
  // Each attack, its error class and what the message names. `recurse` overflows the
  // guest's own stack into a guard page: a fault caught by wasmtime's signal handler.
  const attacks = {
    loop: ['limit', /fuel/],
    alloc: ['limit', /memory limit/],
    recurse: ['internal', /out of bounds memory access/],
    trap: ['internal', /unreachable/],
    panic: ['internal', /unreachable/],
  };
  const managers = [];
  for (const attack of Object.keys(attacks)) {
    const m = new ExternalSyncManager({
      store,
      adapters: dir,
      config: {
        id: `hostile-${attack}`,
        type: 'hostile',
        url: server.url,
        extraFields: [{ name: 'attack', value: attack }],
      },
    });
    t.after(() => m.close());
    await m.initialize();
    managers.push([attack, m]);
  }
  const good = new ExternalSyncManager({ store, adapters: dir, config: { ...server, id: 'good' } });
  t.after(() => good.close());
  await good.initialize();
  await good.importEvents(events('trap', 3));

  // Every adapter traps while this thread keeps running JavaScript and V8 WebAssembly.
  let v8 = 0;
  let running = true;
  const spin = (async () => {
    while (running) {
      v8 += v8Traps(instance, 50);
      await new Promise((r) => setImmediate(r));
    }
  })();
  const outcomes = await Promise.allSettled(managers.map(([, m]) => m.synchronize()));
  running = false;
  await spin;

  for (const [i, [attack]] of managers.entries()) {
    const o = outcomes[i];
    assert.equal(o.status, 'rejected', `${attack} should fail`);
    assert.equal(o.reason.code, attacks[attack][0], `${attack}: ${o.reason.message}`);
    assert.match(o.reason.message, attacks[attack][1]);
  }
  assert.ok(v8 > 0, 'V8 trapped while the adapters did');
  assert.equal(v8Traps(instance, 10), 10);
  // The good adapter still works, in the same engine.
  const report = await good.synchronize();
  assert.equal(report.pushed, 3);
});
