#!/usr/bin/env node
// What a component will ask of the host when it is instantiated, read from its binary:
// core modules, core instances (instantiations and bags of exports), the memories and tables
// each instantiation creates (their initial sizes), and the component's imports and exports.
//
//   node adapters/sdk-js/measure.mjs <component.wasm> [--json]
//
// Counts follow what wasmtime creates per instantiation of the component: every
// `(core instance (instantiate M))` instantiates module M once, creating the memories and
// tables M defines (imported ones are shared, not new). Nested components are measured too,
// each counted once per `(instance (instantiate C))` of the top level.
import { readFile } from 'node:fs/promises';

class Reader {
  constructor(buf, pos = 0, end = buf.length) { this.buf = buf; this.pos = pos; this.end = end; }
  byte() { if (this.pos >= this.end) throw new Error('unexpected end'); return this.buf[this.pos++]; }
  u32() { return Number(this.uleb()); }
  uleb() {
    let result = 0n; let shift = 0n;
    for (;;) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
    }
  }
  bytes(n) { const s = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return s; }
  name() { return new TextDecoder().decode(this.bytes(this.u32())); }
  limits() {
    const flags = this.byte();
    const wide = (flags & 0x04) !== 0;
    const min = wide ? this.uleb() : BigInt(this.u32());
    const max = flags & 0x01 ? (wide ? this.uleb() : BigInt(this.u32())) : undefined;
    if (flags & 0x08) this.u32(); // custom page size log2
    return { min: Number(min), max: max === undefined ? undefined : Number(max), shared: (flags & 0x02) !== 0, wide };
  }
}

function reftype(r) {
  const b = r.byte();
  if (b === 0x63 || b === 0x64) { r.uleb(); } // (ref null? ht): heap type as s33, read loosely
  return b;
}

/** Memories and tables a core module defines and imports. */
function coreModule(bytes) {
  const r = new Reader(bytes, 8);
  const m = { memories: [], tables: [], importedMemories: 0, importedTables: 0, imports: new Set() };
  while (r.pos < r.end) {
    const id = r.byte();
    const size = r.u32();
    const body = new Reader(r.buf, r.pos, r.pos + size);
    if (id === 2) {
      const n = body.u32();
      for (let i = 0; i < n; i++) {
        const mod = body.name(); body.name();
        m.imports.add(mod);
        const kind = body.byte();
        if (kind === 0x00) body.u32();
        else if (kind === 0x01) { reftype(body); body.limits(); m.importedTables++; }
        else if (kind === 0x02) { body.limits(); m.importedMemories++; }
        else if (kind === 0x03) { body.byte(); body.byte(); }
        else if (kind === 0x04) { body.byte(); body.u32(); }
        else throw new Error(`unknown import kind ${kind}`);
      }
    } else if (id === 4) {
      const n = body.u32();
      for (let i = 0; i < n; i++) {
        let b = body.buf[body.pos];
        if (b === 0x40) { body.byte(); body.byte(); } // table with an init expression
        reftype(body);
        m.tables.push(body.limits());
        if (b === 0x40) { while (body.byte() !== 0x0b); }
      }
    } else if (id === 5) {
      const n = body.u32();
      for (let i = 0; i < n; i++) m.memories.push(body.limits());
    }
    r.pos += size;
  }
  return m;
}

/** The structure of a component: its core modules, core instances, nested components. */
function component(bytes, start = 8, end = bytes.length) {
  const r = new Reader(bytes, start, end);
  const c = { modules: [], coreInstances: [], components: [], componentInstances: [], imports: [], exports: [] };
  while (r.pos < r.end) {
    const id = r.byte();
    const size = r.u32();
    const body = new Reader(r.buf, r.pos, r.pos + size);
    if (id === 1) {
      c.modules.push(coreModule(r.buf.subarray(r.pos, r.pos + size)));
    } else if (id === 2) {
      const n = body.u32();
      for (let i = 0; i < n; i++) {
        const kind = body.byte();
        if (kind === 0x00) {
          const module = body.u32();
          const args = body.u32();
          for (let j = 0; j < args; j++) { body.name(); body.byte(); body.u32(); }
          c.coreInstances.push({ instantiate: module });
        } else {
          const n2 = body.u32();
          for (let j = 0; j < n2; j++) { body.name(); body.byte(); body.u32(); }
          c.coreInstances.push({ exports: n2 });
        }
      }
    } else if (id === 4) {
      c.components.push(component(r.buf, r.pos + 8, r.pos + size));
    } else if (id === 5) {
      const n = body.u32();
      for (let i = 0; i < n; i++) {
        const kind = body.byte();
        if (kind === 0x00) {
          const comp = body.u32();
          const args = body.u32();
          for (let j = 0; j < args; j++) { body.name(); const s = body.byte(); if (s === 0x00) body.byte(); body.u32(); }
          c.componentInstances.push({ instantiate: comp });
        } else {
          const n2 = body.u32();
          for (let j = 0; j < n2; j++) { externName(body); const s = body.byte(); if (s === 0x00) body.byte(); body.u32(); }
          c.componentInstances.push({ exports: n2 });
        }
      }
    } else if (id === 6) {
      // Aliases may add core modules or core instances to the index spaces.
      const n = body.u32();
      for (let i = 0; i < n; i++) {
        const sort = body.byte();
        const coreSort = sort === 0x00 ? body.byte() : undefined;
        const target = body.byte();
        if (target === 0x00 || target === 0x01) { body.u32(); body.name(); } else { body.u32(); body.u32(); }
        if (sort === 0x00 && coreSort === 0x11) c.modules.push({ alias: true, memories: [], tables: [], imports: new Set() });
        if (sort === 0x00 && coreSort === 0x12) c.coreInstances.push({ alias: true });
        if (sort === 0x04) c.components.push({ alias: true });
      }
    } else if (id === 10 || id === 11) {
      const n = body.u32();
      for (let i = 0; i < n; i++) {
        const name = externName(body);
        (id === 10 ? c.imports : c.exports).push(name);
        if (id === 11) { const s = body.byte(); if (s === 0x00) body.byte(); body.u32(); if (body.byte() === 0x01) skipExternDesc(body); }
        else skipExternDesc(body);
      }
    }
    r.pos += size;
  }
  return c;
}

function externName(r) {
  const tag = r.byte();
  const name = r.name();
  if (tag === 0x01) r.name(); // version suffix (older encodings)
  return name;
}

function skipExternDesc(r) {
  const kind = r.byte();
  if (kind === 0x00) { r.byte(); r.u32(); } // core module type
  else if (kind === 0x03) { if (r.byte() === 0x00) r.u32(); else r.u32(); } // type bound
  else r.u32(); // func, value, instance, component: a type index
}

/** What one instantiation of `c` creates. */
function totals(c) {
  const t = { coreModules: 0, instantiations: 0, exportBags: 0, memories: [], tables: [], coreImports: new Set() };
  t.coreModules = c.modules.filter((m) => !m.alias).length;
  for (const m of c.modules) for (const i of m.imports ?? []) t.coreImports.add(i);
  c.coreInstances.forEach((inst, idx) => {
    if (inst.instantiate !== undefined) {
      t.instantiations++;
      const m = c.modules[inst.instantiate];
      m.memories.forEach((l) => t.memories.push({ instance: idx, module: inst.instantiate, ...l }));
      m.tables.forEach((l) => t.tables.push({ instance: idx, module: inst.instantiate, ...l }));
    } else if (inst.exports !== undefined) t.exportBags++;
  });
  for (const inst of c.componentInstances) {
    if (inst.instantiate === undefined) continue;
    const nested = c.components[inst.instantiate];
    if (!nested || nested.alias) continue;
    const n = totals(nested);
    t.coreModules += n.coreModules;
    t.instantiations += n.instantiations;
    t.exportBags += n.exportBags;
    t.memories.push(...n.memories);
    t.tables.push(...n.tables);
  }
  return t;
}

const PAGE = 65536;
const CAPS = { instances: 64, memories: 16, tables: 64, memoryBytes: 256 << 20, tableElements: 100000 };

const [file, flag] = process.argv.slice(2);
if (!file) {
  console.error('usage: node adapters/sdk-js/measure.mjs <component.wasm> [--json]');
  process.exit(2);
}
const bytes = new Uint8Array(await readFile(file));
const c = component(bytes);
const t = totals(c);
const memoryBytes = t.memories.reduce((s, m) => s + m.min * PAGE, 0);
const tableElements = t.tables.reduce((s, x) => s + x.min, 0);
const report = {
  file,
  bytes: bytes.length,
  imports: c.imports,
  exports: c.exports,
  coreModules: t.coreModules,
  coreInstances: { instantiations: t.instantiations, exportBags: t.exportBags, total: t.instantiations + t.exportBags },
  memories: t.memories.map(({ min, max, shared, wide }) => ({ initialPages: min, maxPages: max, shared, memory64: wide })),
  initialMemoryBytes: memoryBytes,
  tables: t.tables.map(({ min, max }) => ({ initialElements: min, maxElements: max })),
  initialTableElements: tableElements,
  coreImportModules: [...t.coreImports].sort(),
  caps: {
    instances: `${t.instantiations} of ${CAPS.instances}`,
    memories: `${t.memories.length} of ${CAPS.memories}`,
    tables: `${t.tables.length} of ${CAPS.tables}`,
    memoryAtStart: `${(memoryBytes / 1048576).toFixed(2)} MiB of ${CAPS.memoryBytes / 1048576} MiB`,
    tableElementsAtStart: `${tableElements} of ${CAPS.tableElements}`,
  },
};
if (flag === '--json') console.log(JSON.stringify(report, null, 2));
else {
  console.log(`${file}: ${(bytes.length / 1048576).toFixed(1)} MiB`);
  console.log(`  imports: ${c.imports.join(', ') || '(none)'}`);
  console.log(`  exports: ${c.exports.join(', ')}`);
  console.log(`  core modules: ${t.coreModules}`);
  console.log(`  core instances: ${t.instantiations} instantiated + ${t.exportBags} bags of exports`);
  console.log(`  memories: ${t.memories.length} (initial pages: ${t.memories.map((m) => m.min).join(', ')}; ${(memoryBytes / 1048576).toFixed(2)} MiB)`);
  console.log(`  tables: ${t.tables.length} (initial elements: ${t.tables.map((x) => x.min).join(', ')}; ${tableElements} in all)`);
  console.log(`  caps: ${Object.entries(report.caps).map(([k, v]) => `${k} ${v}`).join('; ')}`);
}
