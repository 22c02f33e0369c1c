/** @module Interface datacollect:external-sync/types@1.2.0 **/
/**
 * Where an event stands in the DataCollect sync chain (0, 1, 2 on the wire).
 * # Variants
 * 
 * ## `"local"`
 * 
 * Recorded on this side, not yet synced with a DataCollect server.
 * ## `"remote"`
 * 
 * Synced with a DataCollect server.
 * ## `"external"`
 * 
 * Came from, or was delivered to, an external system.
 */
export type SyncLevel = 'local' | 'remote' | 'external';
/**
 * One DataCollect event (a FormSubmission).
 */
export interface FormSubmission {
  /**
   * The event's own id. In a pulled event, leave it empty unless the external
   * system has a stable id for this version of the record: the host then derives a
   * deterministic one, so a re-pull of the same record changes nothing.
   */
  guid: string,
  /**
   * The entity (individual or group) the event targets.
   */
  entityGuid: string,
  /**
   * Event type: `create-individual`, `update-group`, ... or a custom type.
   */
  type: string,
  /**
   * The payload, as JSON text (an object).
   */
  data: string,
  /**
   * When the device recorded it, RFC 3339. Never used as a cursor.
   */
  timestamp: string,
  /**
   * Who recorded it.
   */
  userId: string,
  syncLevel: SyncLevel,
}
/**
 * One `{name, value}` pair of the DataCollect config's `extraFields`.
 */
export interface ExtraField {
  name: string,
  /**
   * For a secret field this is a reference (see `adapter-config`), never the value.
   */
  value: string,
}
/**
 * The DataCollect external sync config, as the adapter sees it.
 * 
 * Secret values (API keys, passwords, tokens, and the credentials passed to a sync)
 * are replaced by references such as `{{secret:apiKey:7f3a…}}`. Put a reference
 * where the secret belongs (see `manifest`): the host fills in the value at send time,
 * only where its placement allows, and only toward the config's own origin. Take
 * references from here as given; never build them: the host fills only references
 * this run handed out, so text in event data is never taken for one. Credentials given
 * to a sync are the secrets `credentials.username` and `credentials.password`, also
 * listed in `extra-fields` (from 1.1).
 */
export interface AdapterConfig {
  /**
   * Stable id of this config in the host (used for cursors and echo suppression).
   */
  id: string,
  type: string,
  url: string,
  /**
   * The config's `auth` method, e.g. `basic` or `api-key`.
   */
  auth?: string,
  extraFields: Array<ExtraField>,
  /**
   * The secrets the host holds for this call (names only).
   */
  secretNames: Array<string>,
}
export interface TransientError {
  /**
   * How long the server asked us to wait (from `Retry-After`), if it said.
   */
  retryAfterMs?: bigint,
  /**
   * What happened. A message starting with `protocol:` marks an answer in an
   * unexpected shape: retried like any transient failure, then recorded as a
   * protocol failure when the retries run out.
   */
  message: string,
}
/**
 * One record the external system refused, with its reason.
 */
export interface Rejection {
  guid: string,
  reason: string,
}
/**
 * Why a call failed. The class decides what the host does next.
 */
export type SyncError = SyncErrorConfig | SyncErrorUnauthorized | SyncErrorTransient | SyncErrorRejected | SyncErrorInternal;
/**
 * The config is wrong (missing field, bad URL): fail fast, do not retry.
 */
export interface SyncErrorConfig {
  tag: 'config',
  val: string,
}
/**
 * The external system refused our credentials: stop the run, do not retry.
 */
export interface SyncErrorUnauthorized {
  tag: 'unauthorized',
  val: string,
}
/**
 * Try again later (network error, 429, 5xx): retried with backoff.
 */
export interface SyncErrorTransient {
  tag: 'transient',
  val: TransientError,
}
/**
 * These records were refused; they are quarantined and the rest of the batch
 * is sent again without them.
 */
export interface SyncErrorRejected {
  tag: 'rejected',
  val: Array<Rejection>,
}
/**
 * A bug or an unexpected answer: the run fails.
 */
export interface SyncErrorInternal {
  tag: 'internal',
  val: string,
}
/**
 * What the external system did with a pushed batch.
 */
export interface PushResult {
  /**
   * How many events of the batch it accepted.
   */
  accepted: number,
  /**
   * The events it refused: quarantined by the host. `accepted` plus these must
   * account for the whole batch.
   */
  rejected: Array<Rejection>,
  /**
   * The receiver's id for this delivery (work order, job id...), for run history.
   */
  remoteRef?: string,
}
/**
 * One page of external records turned into events.
 */
export interface PullPage {
  events: Array<FormSubmission>,
  /**
   * Opaque cursor to resume after this page; stored with the page's events.
   */
  nextCursor?: string,
  hasMore: boolean,
}
/**
 * One configuration field the adapter understands.
 */
export interface FieldSpec {
  name: string,
  required: boolean,
  /**
   * Never shown, logged, or given to the adapter; reachable only as a reference.
   */
  secret: boolean,
  'default'?: string,
  description: string,
}
export interface AdapterInfo {
  /**
   * The config `type` this adapter serves, e.g. `openfn-adapter`.
   */
  type: string,
  /**
   * Human-readable name.
   */
  name: string,
  /**
   * The adapter's own version (semver).
   */
  version: string,
  /**
   * `push`, `pull`, `custom-sync`. With `custom-sync` the host calls `sync`
   * instead of driving `push-batch` / `pull-since` itself. With `encoded-push` (from
   * 1.2) the host delivers batches through the `encoded-push` export instead of
   * `push-batch`.
   */
  capabilities: Array<string>,
  configFields: Array<FieldSpec>,
}
/**
 * What a `custom-sync` run did.
 */
export interface SyncReport {
  pushed: bigint,
  pulled: bigint,
  applied: bigint,
  duplicates: bigint,
  quarantined: bigint,
  remoteRefs: Array<string>,
}
