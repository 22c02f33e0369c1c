/** @module Interface datacollect:external-sync/log@1.2.0 **/
export function log(level: Level, message: string, fields: Array<[string, string]>): void;
/**
 * # Variants
 * 
 * ## `"trace"`
 * 
 * ## `"debug"`
 * 
 * ## `"info"`
 * 
 * ## `"warn"`
 * 
 * ## `"error"`
 */
export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';
