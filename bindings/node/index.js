'use strict';
// @datacollect/dcsync: the DataCollect external sync engine embedded in a Node process.
// `ExternalSyncManager` has the API of DataCollect's own TypeScript manager
// (initialize / isInitialized / synchronize) plus what a server needs around it. The work
// runs in Rust, off Node's event loop; adapters are sandboxed WebAssembly components.

const path = require('node:path');

// The native addon: built by `make node` next to this file, or named by DCSYNC_NODE_ADDON.
const native = require(process.env.DCSYNC_NODE_ADDON || path.join(__dirname, 'dcsync.node'));

/** A failure of the engine: `code` is its error class (see index.d.ts). */
class DcsyncError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'DcsyncError';
    this.code = code;
  }
}

// Every native call answers `{"ok": value}` or `{"error": {"code", "message"}}`.
function unwrap(text) {
  const answer = JSON.parse(text);
  if (answer.error) throw new DcsyncError(answer.error.code, answer.error.message);
  return answer.ok;
}

function required(options, name, type) {
  const v = options[name];
  if (typeof v !== type || (type === 'string' && v === '') || v === null) {
    throw new DcsyncError('config', `options.${name} must be a non-empty ${type}`);
  }
  return v;
}

class ExternalSyncManager {
  #id;
  #initialized = false;

  /**
   * @param {{store: string, config: object|string, adapters?: string, settings?: string,
   *          storePassword?: string}} options
   */
  constructor(options) {
    if (typeof options !== 'object' || options === null) {
      throw new DcsyncError('config', 'new ExternalSyncManager(options): options must be an object');
    }
    const store = required(options, 'store', 'string');
    const config = options.config;
    if (typeof config !== 'string' && (typeof config !== 'object' || config === null)) {
      throw new DcsyncError('config', 'options.config must be the externalSync object (or its JSON text)');
    }
    for (const name of ['adapters', 'settings', 'storePassword']) {
      if (options[name] !== undefined && typeof options[name] !== 'string') {
        throw new DcsyncError('config', `options.${name} must be a string`);
      }
    }
    this.#id = unwrap(
      native.openManager(
        JSON.stringify({
          store,
          config,
          adapters: options.adapters,
          settings: options.settings,
          storePassword: options.storePassword,
        }),
      ),
    );
  }

  /** Find the adapter for the config's type; an unknown type stays uninitialized, no throw. */
  async initialize() {
    const r = unwrap(await native.initialize(this.#id));
    this.#initialized = r.initialized;
  }

  /** Whether `initialize()` found the adapter. */
  isInitialized() {
    return this.#initialized;
  }

  /**
   * One sync: push, then pull. Rejects with "Adapter not initialized" before a successful
   * `initialize()`. Credentials reach the adapter only as references.
   */
  async synchronize(credentials) {
    let c = null;
    if (credentials !== undefined && credentials !== null) {
      if (typeof credentials.username !== 'string' || typeof credentials.password !== 'string') {
        throw new DcsyncError('config', 'credentials must be {username: string, password: string}');
      }
      c = JSON.stringify({ username: credentials.username, password: credentials.password });
    }
    return unwrap(await native.synchronize(this.#id, c));
  }

  /** Cursors, pending events, open quarantine, hold and the last run. */
  async status() {
    return unwrap(await native.status(this.#id));
  }

  /** This config's run history, newest first (at most `limit`, 1..1000). */
  async runs(limit = 20) {
    return unwrap(await native.runs(this.#id, Math.max(1, Math.min(1000, limit | 0))));
  }

  /** Append local events (FormSubmissions) and apply them; one bad event stores nothing. */
  async importEvents(events) {
    if (!Array.isArray(events)) throw new DcsyncError('config', 'importEvents(events): events must be an array');
    return unwrap(await native.importEvents(this.#id, JSON.stringify(events)));
  }

  /** The loaded adapters and the adapter files that were refused. */
  async adapters() {
    return unwrap(await native.adapters(this.#id));
  }

  /**
   * Stop a running sync at its next safe point, release the config's lock and the store.
   * Calls after `close()` reject with code "closed". Closing twice is harmless.
   */
  async close() {
    unwrap(await native.close(this.#id));
    this.#initialized = false;
  }
}

module.exports = { ExternalSyncManager, DcsyncError };
