'use strict';
// The TypeScript declarations compile against an example that uses every method, and a
// misuse does not.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const PKG = path.join(__dirname, '..');
const TSC = path.join(PKG, 'node_modules', 'typescript', 'bin', 'tsc');

function tsc(project) {
  assert.ok(fs.existsSync(TSC), `${TSC} is missing: run \`make node\` (npm ci in bindings/node)`);
  return spawnSync(process.execPath, [TSC, '--noEmit', '-p', project], { encoding: 'utf8' });
}

test('index.d.ts type-checks the example', () => {
  const r = tsc(PKG);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('index.d.ts rejects a misuse', (t) => {
  const dir = fs.mkdtempSync(path.join(PKG, '.tsc-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(
    path.join(dir, 'bad.ts'),
    "import { ExternalSyncManager } from '..';\n" +
      "const m = new ExternalSyncManager({ store: 'x.db', config: {} });\n" +
      "m.synchronize({ username: 'u' });\n",
  );
  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({ extends: '../tsconfig.json', files: ['../index.d.ts', 'bad.ts'] }),
  );
  const r = tsc(dir);
  assert.notEqual(r.status, 0);
  assert.match(r.stdout, /password/);
});
