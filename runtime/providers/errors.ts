/**
 * Turns whatever a provider call threw (AWS SDK v3 service error, network error, timeout) into a
 * ProviderResult: retryable when trying again later can succeed, permanent when it cannot. Providers
 * use this so that they never throw for a delivery problem.
 *
 * Plain functions and module-level arrays/RegExps only: this file is serialized into every worker.
 */
import type { ProviderResult } from "../contracts";

/** Error names (SDK exception names and query-protocol codes) that mean "slow down, then try again". */
const RETRYABLE_ERROR_NAMES = [
  "Throttling",
  "ThrottlingException",
  "Throttled",
  "ThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "LimitExceededException",
  "ProvisionedThroughputExceededException",
  "KMSThrottlingException",
  "SendingPausedException",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "InternalError",
  "InternalFailure",
  "InternalErrorException",
  "InternalServerError",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  "AbortError",
];

/** Node/undici network error codes: the request may never have reached the provider. */
const RETRYABLE_NETWORK_CODES = [
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_SOCKET",
];

/** URLs can carry secrets (a Slack webhook URL is one): reasons and logs only ever see `<url>`. */
const URL_PATTERN = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;

/** Longest reason kept in the log table and decision lines. */
const MAX_REASON_LENGTH = 300;

/** Removes URLs and bounds the length, so a reason is safe to store and log. */
export function safeReason(text: string): string {
  const clean = text.replace(URL_PATTERN, "<url>").replace(/\s+/g, " ").trim();
  return clean.length > MAX_REASON_LENGTH ? `${clean.slice(0, MAX_REASON_LENGTH - 1)}…` : clean;
}

interface ErrorLike {
  name?: string;
  code?: string;
  message?: string;
  cause?: unknown;
  $retryable?: unknown;
  $fault?: string;
  $metadata?: { httpStatusCode?: number };
}

/** True when an HTTP status means "try again later" (rate limited, server trouble, timeout). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/**
 * Classifies a thrown error. `context` names what was being done ("SES SendEmail"), so the reason
 * reads on its own in the notification log.
 */
export function classifyError(error: unknown, context: string): Extract<ProviderResult, { outcome: "retryable" | "permanent" }> {
  const err = (typeof error === "object" && error !== null ? error : { message: String(error) }) as ErrorLike;
  const cause = (typeof err.cause === "object" && err.cause !== null ? err.cause : {}) as ErrorLike;
  const name = err.name ?? "Error";
  const status = err.$metadata?.httpStatusCode;
  const codes = [err.code, cause.code, cause.name].filter((c): c is string => typeof c === "string");
  const detail = cause.message && cause.message !== err.message ? `${err.message} (${cause.message})` : (err.message ?? "");
  const reason = safeReason(`${context}: ${name}${status ? ` (HTTP ${status})` : ""}: ${detail}`);

  const retryable =
    Boolean(err.$retryable) ||
    RETRYABLE_ERROR_NAMES.includes(name) ||
    codes.some((code) => RETRYABLE_NETWORK_CODES.includes(code) || RETRYABLE_ERROR_NAMES.includes(code)) ||
    (status !== undefined && isRetryableStatus(status)) ||
    (status === undefined && err.$fault === "server") ||
    // fetch() rejects with a bare TypeError("fetch failed") when the connection itself fails.
    (name === "TypeError" && err.message === "fetch failed");
  return retryable ? { outcome: "retryable", reason } : { outcome: "permanent", reason };
}
