/**
 * Token checking for the WebSocket `$connect` (and, reused, the producer API's `Authorization: Bearer`):
 * JWTs whose `sub` is the user id, signed HS256 with the stack's secret or, when a JWKS URL is
 * configured, RS256/ES256 by an identity provider (Cognito, Auth0, Okta). The HS256 key lives in
 * Secrets Manager; it is cached for `keyCacheSeconds` (so a rotated secret takes effect) and never logged.
 * JWKS keys are cached by jose and fetched again when a token names a `kid` the cache does not hold.
 */
import { DEFAULTS } from "./defaults";
import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { createRemoteJWKSet, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from "jose";
import type { WebSocketEvent } from "./contracts";
import { type DecisionLogger, logDecision, OUTCOME } from "./log";

/** What API Gateway expects from a Lambda REQUEST authorizer: an IAM policy plus a context map. */
export interface AuthResult {
  principalId: string;
  policyDocument: {
    Version: string;
    Statement: { Action: string | string[]; Effect: "Allow" | "Deny"; Resource: string | string[] }[];
  };
  /** Reaches every route of the connection as `requestContext.authorizer` (strings, numbers, booleans only). */
  context?: Record<string, string | number | boolean>;
}

export type TokenCheck = { ok: true; userId: string; scopes: string[]; rooms: string[] } | { ok: false; reason: string };
export type TokenVerifier = (token: string | undefined) => Promise<TokenCheck>;

export interface TokenVerifierOptions {
  /** The HS256 key; called per check, so pass a cached loader (see `makeSecretKeyLoader`). Omit for JWKS only. */
  getKey?: () => Promise<Uint8Array>;
  issuer: string;
  audience: string;
  /** An identity provider's JWKS URL: RS256 and ES256 tokens signed by its keys are accepted too. */
  jwksUrl?: string;
  /** Least milliseconds between two JWKS fetches for unknown `kid`s (jose's cooldown). @default 30000 */
  jwksCooldownMs?: number;
  /** Oldest token accepted, by `iat`; when set, a token without `iat` is refused. */
  maxTokenAgeSeconds?: number;
  /** Seconds of clock skew tolerated for exp/nbf. @default 5 */
  clockToleranceSeconds?: number;
}

/** Algorithms accepted from a JWKS: the ones Cognito, Auth0 and Okta sign with. */
const JWKS_ALGORITHMS = ["RS256", "ES256"];

/** Longest user id accepted from `sub`: it becomes a DynamoDB key and appears in frames. */
const MAX_USER_ID_LENGTH = 256;

/**
 * Checks signature, `exp` (required), `nbf`, `iss`, `aud` and `sub` (required, the user id). `alg: none`
 * and any algorithm outside `algorithms` are refused. Never throws: every failure is `{ ok: false, reason }`.
 */
export function makeTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  if (!options.getKey && !options.jwksUrl) throw new Error("makeTokenVerifier needs getKey (HS256), jwksUrl, or both");
  const jwks = options.jwksUrl
    ? createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: options.jwksCooldownMs ?? 30_000 })
    : undefined;
  const algorithms = [...(options.getKey ? ["HS256"] : []), ...(jwks ? JWKS_ALGORITHMS : [])];
  const keyFailure = { reason: "" };
  // The key follows the token's algorithm, which jose has already checked against `algorithms`, so an
  // HS256 token can never be checked against a public key (the classic algorithm-confusion attack).
  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (header.alg === "HS256") {
      try {
        return await options.getKey!();
      } catch (error) {
        keyFailure.reason = `signing key unavailable: ${(error as Error)?.name ?? "error"}`;
        throw error;
      }
    }
    return jwks!(header, token);
  };
  const requiredClaims = ["exp", "sub", ...(options.maxTokenAgeSeconds ? ["iat"] : [])];
  return async (token) => {
    if (typeof token !== "string" || token.length === 0) return { ok: false, reason: "missing token" };
    keyFailure.reason = "";
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms,
        requiredClaims,
        clockTolerance: options.clockToleranceSeconds ?? 5,
        ...(options.maxTokenAgeSeconds ? { maxTokenAge: options.maxTokenAgeSeconds } : {}),
      }));
    } catch (error) {
      return { ok: false, reason: keyFailure.reason || describeJoseError(error) };
    }
    const userId = payload.sub;
    if (typeof userId !== "string" || userId.length === 0 || userId.length > MAX_USER_ID_LENGTH) {
      return { ok: false, reason: `sub must be a user id of 1–${MAX_USER_ID_LENGTH} characters` };
    }
    return { ok: true, userId, scopes: scopesOf(payload), rooms: wordsOf(payload.rooms) };
  };
}

/** Scopes from `scope` (space-separated, RFC 8693; Cognito, Auth0) or `scp` (array or string; Okta, Entra). */
export function scopesOf(payload: JWTPayload): string[] {
  return [...new Set([...wordsOf(payload.scope), ...wordsOf(payload.scp)])];
}

/** A claim holding words: a space-separated string or an array of strings (anything else: none). */
function wordsOf(claim: unknown): string[] {
  const words = typeof claim === "string" ? claim.split(" ") : Array.isArray(claim) ? claim : [];
  return words.filter((w): w is string => typeof w === "string" && /^[\x21-\x7e]{1,128}$/.test(w)).slice(0, 100);
}

/** A short, token-free reason for a failed check. */
function describeJoseError(error: unknown): string {
  const { code, claim, reason } = (error ?? {}) as { code?: string; claim?: string; reason?: string };
  switch (code) {
    case "ERR_JWT_EXPIRED":
      return claim === "iat" ? "token too old (iat is past maxTokenAgeSeconds)" : "token expired";
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      if (reason === "missing") return `token has no ${claim} claim`;
      if (claim === "iss") return "wrong issuer";
      if (claim === "aud") return "wrong audience";
      if (claim === "nbf") return "token not yet valid";
      if (claim === "iat") return "iat claim check failed";
      return `${claim} claim check failed (${reason})`;
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "bad signature";
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return "algorithm not allowed";
    case "ERR_JWS_INVALID":
    case "ERR_JWT_INVALID":
      return "malformed token";
    case "ERR_JWKS_NO_MATCHING_KEY":
      return "no key of the identity provider matches the token's kid";
    case "ERR_JWKS_TIMEOUT":
    case "ERR_JWKS_INVALID":
      return "identity provider keys unavailable";
    default:
      return code ? `token refused (${code})` : "token refused";
  }
}

/**
 * Loads the signing key from Secrets Manager and keeps it for `ttlSeconds`, so a warm authorizer picks up
 * a rotated secret within that time. A failed fetch is not cached, so the next connect tries again.
 */
export function makeSecretKeyLoader(deps: {
  secrets: SecretsManagerClient;
  secretId: string;
  /** @default 300 */
  ttlSeconds?: number;
  now?: () => number;
}): () => Promise<Uint8Array> {
  const ttlMs = (deps.ttlSeconds ?? DEFAULTS.auth.keyCacheSeconds) * 1000;
  const now = deps.now ?? Date.now;
  let loading: Promise<Uint8Array> | undefined;
  let loadedAt = 0;
  return () => {
    if (loading && now() - loadedAt >= ttlMs) loading = undefined;
    if (!loading) loadedAt = now();
    loading ??= deps.secrets
      .send(new GetSecretValueCommand({ SecretId: deps.secretId }))
      .then((out) => {
        if (!out.SecretString) throw new Error("the token signing secret has no SecretString");
        return new TextEncoder().encode(out.SecretString);
      })
      .catch((error) => {
        loading = undefined;
        throw error;
      });
    return loading;
  };
}

/**
 * The `$connect` REQUEST authorizer: reads `token` from the query string only (a token in a header is
 * ignored: browsers cannot set WebSocket headers, and one place means one thing to audit), and answers an
 * Allow policy for this route with `context.userId`, or a Deny. Never throws.
 */
export function makeWebSocketAuthorizer(deps: { verify: TokenVerifier; logger?: DecisionLogger }) {
  const logger = deps.logger ?? logDecision;
  return async (event: WebSocketEvent): Promise<AuthResult> => {
    const methodArn = event?.methodArn ?? "*";
    let check: TokenCheck;
    try {
      check = await deps.verify(event?.queryStringParameters?.token);
    } catch {
      check = { ok: false, reason: "verifier failed" };
    }
    const connectionId = event?.requestContext?.connectionId;
    if (!check.ok) {
      logger({ component: "websocket-authorizer", outcome: OUTCOME["websocket-authorizer"].deny, reason: check.reason, connectionId });
      return policy("anonymous", "Deny", methodArn);
    }
    logger({ component: "websocket-authorizer", outcome: "allow", userId: check.userId, connectionId });
    return {
      ...policy(check.userId, "Allow", methodArn),
      context: { userId: check.userId, scope: check.scopes.join(" "), rooms: check.rooms.join(" ") },
    };
  };
}

function policy(principalId: string, effect: "Allow" | "Deny", resource: string): AuthResult {
  return {
    principalId,
    policyDocument: { Version: "2012-10-17", Statement: [{ Action: "execute-api:Invoke", Effect: effect, Resource: resource }] },
  };
}
