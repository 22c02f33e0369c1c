'use strict';
// One timed synchronize() through the package, for `make bench` (tests/src/bench/node.rs):
//   node bench/sync.js '{"store": …, "config": …, "adapters": …}'
// prints {"ms", "pushed", "pulled", "applied"}. Opening, initialize() and the warm-up sync
// (`warmup`: options of a small store synced first) are not timed.

const { ExternalSyncManager } = require('..');

(async () => {
  const options = JSON.parse(process.argv[2]);
  // A first sync of a small store, untimed, as the Rust side does: the timed one is not the
  // first of its process.
  if (options.warmup) {
    const w = new ExternalSyncManager(options.warmup);
    await w.initialize();
    await w.synchronize();
    await w.close();
  }
  const m = new ExternalSyncManager(options);
  await m.initialize();
  const started = process.hrtime.bigint();
  const r = await m.synchronize();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  await m.close();
  console.log(JSON.stringify({ ms, pushed: r.pushed, pulled: r.pulled, applied: r.applied }));
})().catch((e) => {
  console.error(`${e.code}: ${e.message}`);
  process.exit(1);
});
