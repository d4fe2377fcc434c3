/**
 * Token checking for the WebSocket `$connect` (and, reused, the producer API's `Authorization: Bearer`):
 * HS256 JWTs whose `sub` is the user id. The signing key lives in Secrets Manager in AWS; it is fetched
 * once per cold start and never logged.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { jwtVerify } from "jose";
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

export type TokenCheck = { ok: true; userId: string } | { ok: false; reason: string };
export type TokenVerifier = (token: string | undefined) => Promise<TokenCheck>;

export interface TokenVerifierOptions {
  /** The HS256 key; called per check, so pass a cached loader (see `makeSecretKeyLoader`). */
  getKey: () => Promise<Uint8Array>;
  issuer: string;
  audience: string;
  /** @default ["HS256"] */
  algorithms?: string[];
  /** Seconds of clock skew tolerated for exp/nbf. @default 5 */
  clockToleranceSeconds?: number;
}

/** Longest user id accepted from `sub`: it becomes a DynamoDB key and appears in frames. */
const MAX_USER_ID_LENGTH = 256;

/**
 * Checks signature, `exp` (required), `nbf`, `iss`, `aud` and `sub` (required, the user id). `alg: none`
 * and any algorithm outside `algorithms` are refused. Never throws: every failure is `{ ok: false, reason }`.
 */
export function makeTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const algorithms = options.algorithms ?? ["HS256"];
  return async (token) => {
    if (typeof token !== "string" || token.length === 0) return { ok: false, reason: "missing token" };
    let key: Uint8Array;
    try {
      key = await options.getKey();
    } catch (error) {
      return { ok: false, reason: `signing key unavailable: ${(error as Error)?.name ?? "error"}` };
    }
    try {
      const { payload } = await jwtVerify(token, key, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms,
        requiredClaims: ["exp", "sub"],
        clockTolerance: options.clockToleranceSeconds ?? 5,
      });
      const userId = payload.sub;
      if (typeof userId !== "string" || userId.length === 0 || userId.length > MAX_USER_ID_LENGTH) {
        return { ok: false, reason: `sub must be a user id of 1–${MAX_USER_ID_LENGTH} characters` };
      }
      return { ok: true, userId };
    } catch (error) {
      return { ok: false, reason: describeJoseError(error) };
    }
  };
}

/** A short, token-free reason for a failed check. */
function describeJoseError(error: unknown): string {
  const { code, claim, reason } = (error ?? {}) as { code?: string; claim?: string; reason?: string };
  switch (code) {
    case "ERR_JWT_EXPIRED":
      return "token expired";
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      if (reason === "missing") return `token has no ${claim} claim`;
      if (claim === "iss") return "wrong issuer";
      if (claim === "aud") return "wrong audience";
      if (claim === "nbf") return "token not yet valid";
      return `${claim} claim check failed (${reason})`;
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "bad signature";
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return "algorithm not allowed";
    case "ERR_JWS_INVALID":
    case "ERR_JWT_INVALID":
      return "malformed token";
    default:
      return code ? `token refused (${code})` : "token refused";
  }
}

/**
 * Loads the signing key from Secrets Manager once and keeps it for the life of the Lambda instance. A
 * failed fetch is not cached, so the next connect tries again.
 */
export function makeSecretKeyLoader(deps: { secrets: SecretsManagerClient; secretId: string }): () => Promise<Uint8Array> {
  let loading: Promise<Uint8Array> | undefined;
  return () => {
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
    logger({ component: "websocket-authorizer", outcome: OUTCOME["websocket-authorizer"].allow, userId: check.userId, connectionId });
    return { ...policy(check.userId, "Allow", methodArn), context: { userId: check.userId } };
  };
}

function policy(principalId: string, effect: "Allow" | "Deny", resource: string): AuthResult {
  return {
    principalId,
    policyDocument: { Version: "2012-10-17", Statement: [{ Action: "execute-api:Invoke", Effect: effect, Resource: resource }] },
  };
}
