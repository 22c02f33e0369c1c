/** @module Interface datacollect:external-sync/http@1.2.0 **/
/**
 * Send one request. Redirects are never followed: a 3xx comes back as is.
 */
export function send(req: Request): Response;
/**
 * # Variants
 * 
 * ## `"get"`
 * 
 * ## `"head"`
 * 
 * ## `"post"`
 * 
 * ## `"put"`
 * 
 * ## `"patch"`
 * 
 * ## `"delete"`
 */
export type Method = 'get' | 'head' | 'post' | 'put' | 'patch' | 'delete';
export interface BasicAuth {
  /**
   * May be, and for a password must be, a secret reference.
   */
  username: string,
  password: string,
}
export interface Request {
  method: Method,
  /**
   * Absolute http(s) URL. Its origin must be allowed for this config (by default
   * only the config URL's scheme, host and port).
   */
  url: string,
  /**
   * Header values may hold secret references, where the secret's placement allows.
   * Headers the host owns (`host`, `content-length`, `transfer-encoding`,
   * `connection`, `accept-encoding`, `te`, `upgrade`, `proxy-*`…) are refused.
   */
  headers: Array<[string, string]>,
  /**
   * A body may hold a secret reference only where a `json-body` placement allows.
   */
  body?: Uint8Array,
  basicAuth?: BasicAuth,
  /**
   * Shorter than the host's limit for this config; the limit wins if smaller.
   */
  timeoutMs?: number,
}
export interface Response {
  status: number,
  headers: Array<[string, string]>,
  /**
   * Already decoded (no content encoding). A response that carries a secret value
   * of the config, in any usual encoding, stops the call: the run fails and the
   * config is held until the operator releases it (SECURITY.md).
   */
  body: Uint8Array,
}
export type HttpError = HttpErrorDenied | HttpErrorTimeout | HttpErrorTooLarge | HttpErrorConnection | HttpErrorInvalidRequest | HttpErrorBudgetExhausted;
/**
 * The URL or the address it resolves to is not allowed for this config.
 */
export interface HttpErrorDenied {
  tag: 'denied',
  val: string,
}
/**
 * No answer within the timeout.
 */
export interface HttpErrorTimeout {
  tag: 'timeout',
  val: string,
}
/**
 * The request or the response is over the host's size cap.
 */
export interface HttpErrorTooLarge {
  tag: 'too-large',
  val: string,
}
/**
 * DNS, connect, TLS or a dropped connection.
 */
export interface HttpErrorConnection {
  tag: 'connection',
  val: string,
}
/**
 * The request is malformed (bad URL or header, a host-owned header, a secret
 * reference where its placement does not allow it). Error texts never echo the
 * request.
 */
export interface HttpErrorInvalidRequest {
  tag: 'invalid-request',
  val: string,
}
/**
 * The call used up its budget of host calls.
 */
export interface HttpErrorBudgetExhausted {
  tag: 'budget-exhausted',
  val: string,
}
