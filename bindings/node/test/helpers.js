'use strict';
// What the package's tests share: where the built pieces are, emulated servers started
// with `dcsync mock-server`, and scratch directories. `make test` runs these tests through
// tests/tests/node_package.rs, which sets the environment below (a throwaway PostgreSQL
// among it); `npm test` alone finds the pieces at their default places.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const TARGET = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target');
const ADAPTERS = process.env.DCSYNC_ADAPTERS || path.join(TARGET, 'adapters');
const TEST_ADAPTERS = process.env.DCSYNC_TEST_ADAPTERS || path.join(TARGET, 'test-adapters');
const DCSYNC = process.env.DCSYNC_BIN || path.join(TARGET, 'debug', 'dcsync');

// Compiled adapter code is cached where the Rust tests cache it.
process.env.XDG_CACHE_HOME ||= path.join(TARGET, 'test-cache');

function need(file, how) {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: ${how}`);
  return file;
}

/** A scratch directory removed when the test ends. */
function scratch(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dcsync-node-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An adapter directory holding copies of these components (`name` → file name). */
function adapterDir(t, files) {
  const dir = path.join(scratch(t), 'adapters');
  fs.mkdirSync(dir);
  for (const f of files) {
    const from = fs.existsSync(path.join(ADAPTERS, f)) ? path.join(ADAPTERS, f) : path.join(TEST_ADAPTERS, f);
    fs.copyFileSync(need(from, 'run `make adapters`'), path.join(dir, f));
  }
  return dir;
}

/**
 * An emulated system (`dcsync mock-server --kind KIND`), stopped when the test ends; its
 * printed config (`{type, url, ...}`).
 */
async function mockServer(t, kind = 'mock-sync', faults = []) {
  need(DCSYNC, 'build dcsync first (`cargo build -p dcsync-cli`)');
  const args = ['mock-server', '--kind', kind, '--port', '0', '--adapters', ADAPTERS];
  for (const f of faults) args.push('--fault', JSON.stringify(f));
  const child = spawn(DCSYNC, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mock server did not start: ${out}${err}`)), 30000);
    child.on('exit', (code) => reject(new Error(`mock server exited ${code}: ${out}${err}`)));
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/config: (\{[\s\S]*?\n\})/);
      if (m) {
        clearTimeout(timer);
        resolve(JSON.parse(m[1]));
      }
    });
  });
}

/** `n` local registrations as DataCollect's server stores them. */
function events(prefix, n) {
  return Array.from({ length: n }, (_, i) => ({
    guid: `${prefix}-event-${i}`,
    entityGuid: `${prefix}-person-${i}`,
    type: 'create-individual',
    data: { name: `Person ${i}` },
    timestamp: `2025-01-01T00:00:${String(i % 60).padStart(2, '0')}Z`,
    userId: 'registrar',
    syncLevel: 0,
  }));
}

module.exports = { ROOT, TARGET, ADAPTERS, TEST_ADAPTERS, DCSYNC, scratch, adapterDir, mockServer, events, need };
