// Types of @datacollect/dcsync. Field names are those the engine answers (camelCase).

/** The error classes a failure can carry, as in run history and the HTTP API. */
export type ErrorClass =
  | 'config'
  | 'unauthorized'
  | 'transient'
  | 'limit'
  | 'internal'
  | 'protocol'
  | 'store'
  | 'busy'
  | 'interrupted'
  | 'security'
  /** The manager was closed. */
  | 'closed';

/** A failure of the engine. Its message never holds a secret value. */
export declare class DcsyncError extends Error {
  readonly name: 'DcsyncError';
  readonly code: ErrorClass;
}

export interface ExternalSyncManagerOptions {
  /** A SQLite file (created if missing), or `postgres://user@host/db?tenant=<app config id>`. */
  store: string;
  /** The app config's `externalSync` object as the DataCollect server holds it, bare or
   * wrapped (`{externalSync: {...}}`), or its JSON text. */
  config: object | string;
  /** The adapter directory (default: looked up as the dcsync CLI does). */
  adapters?: string;
  /** A dcsync runtime settings file (TOML): limits, pins, code cache. */
  settings?: string;
  /** The PostgreSQL password (default: DCSYNC_STORE_PASSWORD or PGPASSWORD). Never put it in the URL. */
  storePassword?: string;
}

export interface Credentials {
  username: string;
  password: string;
}

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'incomplete' | 'interrupted' | 'abandoned';

export interface SyncReport {
  runId: number;
  status: RunStatus;
  adapterVersion: string;
  pushed: number;
  pulled: number;
  applied: number;
  duplicates: number;
  quarantined: number;
  retries: number;
  pushBatches: number;
  pullPages: number;
  /** Receiver ids of deliveries (work orders...). */
  remoteRefs: string[];
  /** Requests the host refused to make for the adapter. */
  denials: string[];
  durationMs: number;
  adapterUs: number;
  hostHttpUs: number;
}

export interface RunRecord {
  id: number;
  configId: string;
  adapterType: string;
  adapterVersion: string;
  startedAt: string;
  finishedAt: string | null;
  status: RunStatus;
  pushed: number;
  pulled: number;
  applied: number;
  duplicates: number;
  quarantined: number;
  retries: number;
  durationMs: number | null;
  errorClass: Exclude<ErrorClass, 'closed'> | null;
  /** Redacted: secrets never reach the store. */
  message: string | null;
  remoteRefs: string[];
  denials: string[];
}

export interface ConfigStatus {
  configId: string;
  /** Sequence number of the last event confirmed delivered. */
  pushCursor: number;
  pullCursor: string | null;
  /** Events waiting to be pushed. */
  pending: number;
  /** Open quarantine entries. */
  quarantined: number;
  lastRun: RunRecord | null;
  /** Set while the host holds the config (an answer held a secret value). */
  held: { since: string; reason: string } | null;
}

/** An event as DataCollect stores it. */
export interface FormSubmission {
  guid: string;
  entityGuid: string;
  type: string;
  data: Record<string, unknown>;
  timestamp: string;
  userId: string;
  syncLevel: number;
}

export interface ImportOutcome {
  applied: number;
  duplicates: number;
  quarantined: number;
  /** Guids already stored with other content: the stored event was kept. */
  conflicts: string[];
}

/** One file of the adapter directory: loaded, or refused with the reason. */
export type AdapterEntry =
  | {
      status: 'loaded';
      type: string;
      name: string;
      version: string;
      witVersion: string;
      capabilities: unknown;
      configFields: Array<{ name: string; required: boolean; secret: boolean; default?: string | null; description: string }>;
      secretPlacements: unknown;
      sha256: string;
      file: string;
      loadedAt: string;
      loadMs: number;
      fromCache: boolean;
    }
  | { status: 'refused'; file: string; reason: string };

/** DataCollect's ExternalSyncManager, run by the dcsync engine. */
export declare class ExternalSyncManager {
  constructor(options: ExternalSyncManagerOptions);
  /** Find the adapter for the config's type; an unknown type stays uninitialized, no throw. */
  initialize(): Promise<void>;
  isInitialized(): boolean;
  /** One sync: push, then pull. Rejects with "Adapter not initialized" before initialize(). */
  synchronize(credentials?: Credentials | null): Promise<SyncReport>;
  status(): Promise<ConfigStatus>;
  /** Run history, newest first. */
  runs(limit?: number): Promise<RunRecord[]>;
  importEvents(events: FormSubmission[]): Promise<ImportOutcome>;
  adapters(): Promise<AdapterEntry[]>;
  /** Stop a running sync at a safe point; release the config's lock and the store. */
  close(): Promise<void>;
}
