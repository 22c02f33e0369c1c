#!/usr/bin/env node
// Build a JavaScript adapter into a WebAssembly component of the
// `datacollect:external-sync@1.2.0` world `adapter-world`.
//
//   node adapters/sdk-js/build.mjs <adapter.js> <out.wasm>
//
// The adapter is an ES module that imports this SDK (`sdk.js`, by a relative path or
// through the SDK's package name) and exports what `defineAdapter` returns. Every engine
// feature the host does not grant is disabled: no stdio, random, clocks, wasi:http or
// fetch-event, so the component imports only the WIT interfaces of the contract. (The
// consequence: `console.log`, `Math.random`, `Date.now`, timers and `fetch` are not
// available; an uncaught error traps instead of printing. The SDK catches what the
// adapter throws and turns it into a `sync-error`.)
import { componentize } from '@bytecodealliance/componentize-js';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const WIT_PATH = resolve(here, '../../wit');
export const WORLD = 'adapter-world';
/** Every feature of the StarlingMonkey engine that needs a WASI import we do not grant. */
export const DISABLED_FEATURES = ['stdio', 'random', 'clocks', 'http', 'fetch-event'];

// The deepest directory that holds both paths.
function commonAncestor(a, b) {
  const pa = a.split(sep);
  const pb = b.split(sep);
  let i = 0;
  while (i < pa.length && i < pb.length && pa[i] === pb[i]) i++;
  return pa.slice(0, i).join(sep) || sep;
}

// The module componentize-js builds: the adapter's own exports, and the 1.2 `encoded-push`
// export where the adapter does not export it (a source written for 1.1 exports only
// `adapter`, `manifest` and `checks`): the one `defineAdapter` made (it serves
// `pushEncoded`, and the capability is declared only when there is one), else a stub.
// Written beside the adapter so its relative imports resolve the same (a read-only source
// directory cannot be built from: copy it first); removed after the build.
function entryModule(adapterFile) {
  const from = JSON.stringify(`./${adapterFile}`);
  return `import * as adapterModule from ${from};
export const { adapter, manifest, checks } = adapterModule;
export const encodedPush = adapterModule.encodedPush
  ?? globalThis[Symbol.for('datacollect.sdk.encodedPush')]
  ?? { pushEncoded: () => ({ tag: 'err', val: { tag: 'internal', val: 'this adapter takes no encoded batches' } }) };
`;
}

let builds = 0;

export async function build(source, out) {
  const started = Date.now();
  const adapterPath = resolve(source);
  const sourcePath = resolve(dirname(adapterPath), `.dcsync-entry-${process.pid}-${++builds}-${basename(adapterPath)}`);
  out = resolve(out);
  // componentize-js shows the engine only one directory while it evaluates the module: the
  // working directory if the source is inside it, else the source's own directory. Work from
  // a directory that holds both the adapter and this SDK, so `import '../../sdk-js/sdk.js'`
  // (or any relative path to the SDK) resolves wherever the build is started from.
  const workspace = commonAncestor(dirname(sourcePath), here);
  if (workspace === sep) {
    // componentize-js cuts the working directory off the source path by its length plus
    // one, which breaks for `/`.
    throw new Error(`${adapterPath} and the SDK (${here}) share no directory but /: keep the adapter beside the SDK`);
  }
  const previous = process.cwd();
  let component;
  try {
    await writeFile(sourcePath, entryModule(basename(adapterPath)));
    process.chdir(workspace);
    ({ component } = await componentize({
      sourcePath,
      witPath: WIT_PATH,
      worldName: WORLD,
      disableFeatures: DISABLED_FEATURES,
    }));
  } finally {
    process.chdir(previous);
    await rm(sourcePath, { force: true });
  }
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, component);
  return { bytes: component.length, ms: Date.now() - started };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [source, out] = process.argv.slice(2);
  if (!source || !out) {
    console.error('usage: node adapters/sdk-js/build.mjs <adapter.js> <out.wasm>');
    process.exit(2);
  }
  try {
    const { bytes, ms } = await build(source, out);
    console.log(`${out}: ${(bytes / 1048576).toFixed(1)} MiB in ${(ms / 1000).toFixed(1)} s`);
  } catch (e) {
    console.error(`build of ${source} failed: ${e?.stack ?? e}`);
    process.exit(1);
  }
}
