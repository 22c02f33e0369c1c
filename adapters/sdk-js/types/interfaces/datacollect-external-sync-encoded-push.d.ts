/** @module Interface datacollect:external-sync/encoded-push@1.2.0 **/
/**
 * Deliver one batch, as `adapter.push-batch` does.
 */
export function pushEncoded(config: AdapterConfig, batch: EncodedBatch): PushResult;
export type AdapterConfig = import('./datacollect-external-sync-types.js').AdapterConfig;
export type PushResult = import('./datacollect-external-sync-types.js').PushResult;
export type SyncError = import('./datacollect-external-sync-types.js').SyncError;
export interface EncodedBatch {
  /**
   * The events as one JSON array, in batch order, each in DataCollect's wire shape:
   * `{"guid", "entityGuid", "type", "data" (an object, as the host stored it), "timestamp",
   * "userId", "syncLevel" (0, 1 or 2)}`.
   */
  events: string,
  /**
   * How many events `events` holds. (Their guids are in `events`: an adapter reads
   * them only when the receiver refused some.)
   */
  count: number,
  /**
   * A stable id of the batch: the same guids in the same order give the same id
   * (the first 16 bytes of SHA-256 over each guid followed by a newline, as 32 hex
   * digits; the SDKs' `batch-id`), e.g. for a receiver's idempotency key.
   */
  batchId: string,
}
