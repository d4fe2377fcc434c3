/**
 * Signs the HS256 tokens the WebSocket authorizer (and the producer API in local mode) accept. In AWS a
 * real identity provider would issue them; locally `POST /dev/token` and the tests use this.
 */
import { SignJWT } from "jose";

export interface DevTokenOptions {
  /** The signing secret: the same value the stack's `tokenSigningSecret` holds (≥ 32 bytes). */
  secret: Uint8Array | string;
  /** Becomes the `sub` claim, which the authorizer turns into `userId`. */
  userId: string;
  issuer: string;
  audience: string;
  /** A jose time span ("1h", "15m") or an absolute epoch-seconds `exp`. @default "1h" */
  expiresIn?: string | number;
  /**
   * Space-separated scopes (the `scope` claim): `notifications:send` makes a producer token, `chat:send`
   * lets a user send chat frames. @default none: an end-user token
   */
  scope?: string;
  /** Chat rooms the user may join (the `rooms` claim). */
  rooms?: string[];
  /** Epoch seconds for `iat`. @default now */
  issuedAt?: number;
}

export async function signDevToken(options: DevTokenOptions): Promise<string> {
  if (!options.userId) throw new Error("signDevToken: userId is required (it becomes the token's sub claim)");
  const key = typeof options.secret === "string" ? new TextEncoder().encode(options.secret) : options.secret;
  if (key.length < 32) throw new Error(`signDevToken: the secret has ${key.length} bytes; HS256 needs at least 32`);
  const claims: Record<string, unknown> = {};
  if (options.scope) claims.scope = options.scope;
  if (options.rooms?.length) claims.rooms = options.rooms;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(options.userId)
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt(options.issuedAt)
    .setExpirationTime(options.expiresIn ?? "1h")
    .sign(key);
}
