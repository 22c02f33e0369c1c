/** @module Interface datacollect:external-sync/event-applier@1.2.0 **/
/**
 * Store and apply these events and move the pull cursor to `next-cursor`, all in one
 * transaction.
 */
export function applyPulled(events: Array<FormSubmission>, nextCursor: string | undefined): ApplyReport;
export type FormSubmission = import('./datacollect-external-sync-types.js').FormSubmission;
export interface ApplyReport {
  applied: bigint,
  /**
   * Already stored (same guid): nothing done.
   */
  duplicates: bigint,
  /**
   * Could not be applied (unknown type, invalid data): kept with the reason.
   */
  quarantined: bigint,
}
