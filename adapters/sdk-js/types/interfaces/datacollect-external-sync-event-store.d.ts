/** @module Interface datacollect:external-sync/event-store@1.2.0 **/
/**
 * Local events not yet delivered to this config, in the order they were stored
 * (events pulled from this config are never offered back to it).
 */
export function pendingEvents(limit: number): Array<FormSubmission>;
/**
 * Confirm delivery of every pending event up to and including `last-guid`, except
 * `rejected` (quarantined). The push cursor moves past them in one transaction.
 */
export function confirmPush(lastGuid: string, rejected: Array<Rejection>, remoteRef: string | undefined): void;
/**
 * The opaque pull cursor stored for this config, if any.
 */
export function pullCursor(): string | undefined;
export type FormSubmission = import('./datacollect-external-sync-types.js').FormSubmission;
export type Rejection = import('./datacollect-external-sync-types.js').Rejection;
