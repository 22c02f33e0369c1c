/** @module Interface datacollect:external-sync/manifest@1.2.0 **/
/**
 * Where each secret may go; `none` declares nothing (the 1.0 rule applies). Must not
 * do I/O.
 */
export function secretPlacements(): Array<SecretPlacement> | undefined;
/**
 * A JSON request body to one path of the config's own origin, with the secret as the
 * whole string at one JSON pointer (RFC 6901), e.g. path `/jsonrpc`, pointer
 * `/params/args/2`. The operator must approve body placements for the adapter type.
 */
export interface JsonBodyPlacement {
  path: string,
  pointer: string,
}
/**
 * One place a secret may go.
 */
export type Placement = PlacementHeader | PlacementBasicAuth | PlacementBearer | PlacementJsonBody;
/**
 * The value of this request header (matched case-insensitively).
 */
export interface PlacementHeader {
  tag: 'header',
  val: string,
}
/**
 * `http.basic-auth`.
 */
export interface PlacementBasicAuth {
  tag: 'basic-auth',
}
/**
 * `authorization: Bearer <secret>`.
 */
export interface PlacementBearer {
  tag: 'bearer',
}
/**
 * See `json-body-placement`.
 */
export interface PlacementJsonBody {
  tag: 'json-body',
  val: JsonBodyPlacement,
}
export interface SecretPlacement {
  /**
   * An extra field's name, or `credentials.username` / `credentials.password`.
   */
  secret: string,
  placements: Array<Placement>,
}
