/** @module Interface datacollect:external-sync/adapter@1.2.0 **/
/**
 * Who the adapter is and what it needs. Must not do I/O.
 */
export function describe(): AdapterInfo;
/**
 * Deliver one batch of events. Called by the host's sync loop.
 */
export function pushBatch(config: AdapterConfig, events: Array<FormSubmission>): PushResult;
/**
 * Fetch one page of external records after `cursor` (none: from the beginning).
 */
export function pullSince(config: AdapterConfig, cursor: string | undefined, limit: number): PullPage;
/**
 * Run a whole sync (only for adapters with the `custom-sync` capability), through
 * the `event-store` and `event-applier` imports.
 */
export function sync(config: AdapterConfig): SyncReport;
export type AdapterConfig = import('./datacollect-external-sync-types.js').AdapterConfig;
export type AdapterInfo = import('./datacollect-external-sync-types.js').AdapterInfo;
export type FormSubmission = import('./datacollect-external-sync-types.js').FormSubmission;
export type PushResult = import('./datacollect-external-sync-types.js').PushResult;
export type PullPage = import('./datacollect-external-sync-types.js').PullPage;
export type SyncError = import('./datacollect-external-sync-types.js').SyncError;
export type SyncReport = import('./datacollect-external-sync-types.js').SyncReport;
