/** @module Interface datacollect:external-sync/run-state@1.2.0 **/
/**
 * The value stored under `key` earlier in this run.
 */
export function get(key: string): string | undefined;
/**
 * Store `value` under `key` for the rest of this run; false when over the limits.
 */
export function set(key: string, value: string): boolean;
