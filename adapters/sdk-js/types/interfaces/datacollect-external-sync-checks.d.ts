/** @module Interface datacollect:external-sync/checks@1.2.0 **/
/**
 * Every problem with the config at once, including rules that depend on other fields
 * (`apiKey` is required when `auth` is `api-key`). Must not do I/O.
 */
export function validate(config: AdapterConfig): Array<FieldProblem>;
/**
 * Try the credentials against the system, as a sync's first step would, without
 * changing anything there. A failure has the same classes as a sync's.
 */
export function checkConnection(config: AdapterConfig): ConnectionCheck;
export type AdapterConfig = import('./datacollect-external-sync-types.js').AdapterConfig;
export type SyncError = import('./datacollect-external-sync-types.js').SyncError;
/**
 * One thing wrong with a config.
 */
export interface FieldProblem {
  /**
   * The field, e.g. `extraFields.apiKey` or `auth`.
   */
  field: string,
  /**
   * What is wrong and how to fix it.
   */
  message: string,
}
/**
 * The outcome of a connection test.
 */
export type ConnectionCheck = ConnectionCheckOk | ConnectionCheckUntestable;
/**
 * The system accepted the credentials; a short description of what was tried.
 */
export interface ConnectionCheckOk {
  tag: 'ok',
  val: string,
}
/**
 * The adapter cannot test without side effects (e.g. a webhook POST would start
 * a workflow): it says so instead of sending.
 */
export interface ConnectionCheckUntestable {
  tag: 'untestable',
  val: string,
}
