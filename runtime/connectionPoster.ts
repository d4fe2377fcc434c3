/**
 * PostToConnection, one frame per call, for fan-out: the SDK's own signer, HTTP handler and retry
 * strategy, taken from a management API client's resolved configuration once per delivery, then
 * composed per post.
 *
 * Why not `client.send(new PostToConnectionCommand(…))`: a profile of 2,000 posts put most of each
 * post's CPU in the client's per-call middleware (schema serde, endpoint rules, user agent, auth scheme
 * and identity resolution) for a request that is one signed POST of bytes. The parts that matter are
 * kept and paid for once: credentials (refreshed by the SDK's provider), SigV4, the keep-alive agent
 * and its timeouts, and the standard retry strategy's token bucket and backoff for throttling, 5xx and
 * network errors. Imports only @smithy/signature-v4, a package the Lambda runtime's SDK has carried
 * for years; the rest comes from the client given.
 */
import type { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import { SignatureV4 } from "@smithy/signature-v4";

/** Posts the delivery's frame to one connection; throws like the SDK command would (`name`, `$metadata.httpStatusCode`). */
export type ConnectionPost = (connectionId: string) => Promise<void>;

/** An error of a post, shaped as the SDK's service exceptions are, so callers (410 → gone) need not care which path posted. */
export type PostError = Error & { $metadata: { httpStatusCode?: number } };

/**
 * A plain Error with the fields set on it, not a subclass: Pulumi serializes a class's constructor as a
 * function calling `Error.call(this, message)`, which sets no message, so a subclass's errors arrived
 * in the shipped code without their reason.
 */
function postError(name: string, message: string, httpStatusCode?: number): PostError {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode } });
}

/** The SDK's exception names by status, for answers that name none. */
const NAME_BY_STATUS: Record<number, string> = {
  403: "ForbiddenException",
  410: "GoneException",
  413: "PayloadTooLargeException",
  429: "LimitExceededException",
};

/**
 * A poster of `payload` for the client's endpoint and credentials. Build one per delivery and use it
 * for all of its posts: the signer, retry strategy, endpoint and the payload's SHA-256 are worked out
 * once, on the first post. (The signer takes the hash as the x-amz-content-sha256 header, which it
 * would add with the same value anyway, instead of hashing the same body for every connection.)
 */
export function connectionPoster(client: ApiGatewayManagementApiClient, payload: Uint8Array): ConnectionPost {
  const config = client.config;
  const parts = (async () => {
    const endpoint = await config.endpoint?.();
    if (!endpoint) throw new Error("the management API client has no endpoint");
    const signer = new SignatureV4({
      service: "execute-api",
      region: await config.region(),
      credentials: config.credentials,
      sha256: config.sha256,
      uriEscapePath: config.signingEscapePath,
    });
    const retry = await config.retryStrategy();
    if (!("acquireInitialRetryToken" in retry))
      throw new Error("the management API client's retry strategy is not a RetryStrategyV2 (the SDK's default)");
    return { endpoint, signer, retry, payloadHash: await sha256Hex(config.sha256, payload) };
  })();

  return async (connectionId) => {
    const { endpoint, signer, retry, payloadHash } = await parts;
    const basePath = endpoint.path.endsWith("/") ? endpoint.path.slice(0, -1) : endpoint.path;
    // A plain request: the signer clones it into its own HttpRequest, the handler reads its fields. (No
    // import of @smithy/core's internals, whose layout differs between the SDK versions Lambda ships.)
    const request = {
      method: "POST",
      protocol: endpoint.protocol,
      hostname: endpoint.hostname,
      port: endpoint.port,
      path: `${basePath}/@connections/${encodeURIComponent(connectionId)}`,
      headers: {
        host: endpoint.port ? `${endpoint.hostname}:${endpoint.port}` : endpoint.hostname,
        "content-length": String(payload.byteLength),
        "x-amz-content-sha256": payloadHash,
      },
      query: {},
      body: payload,
    };
    let token = await retry.acquireInitialRetryToken(endpoint.hostname);
    for (;;) {
      let failure: PostError;
      try {
        const signed = await signer.sign(request);
        const { response } = await config.requestHandler.handle(signed as Parameters<typeof config.requestHandler.handle>[0]);
        if (response.statusCode >= 200 && response.statusCode < 300) {
          drain(response.body);
          retry.recordSuccess(token);
          return;
        }
        const body = await readBody(response.body);
        failure = postError(errorName(response.statusCode, response.headers), messageOf(body), response.statusCode);
      } catch (error) {
        // No answer (reset, refused, timed out): no status, which the retry strategy counts as transient.
        failure = postError((error as Error).name ?? "Error", (error as Error).message);
      }
      const errorType = retryErrorType(failure);
      if (errorType === "CLIENT_ERROR") throw failure;
      try {
        token = await retry.refreshRetryTokenForRetry(token, { errorType });
      } catch {
        throw failure; // out of attempts or retry capacity
      }
      await new Promise((resolve) => setTimeout(resolve, token.getRetryDelay()));
    }
  };
}

async function sha256Hex(Sha256: ApiGatewayManagementApiClient["config"]["sha256"], data: Uint8Array): Promise<string> {
  const hash = new Sha256();
  hash.update(data);
  return Buffer.from(await hash.digest()).toString("hex");
}

/**
 * How the SDK's retry strategy should treat a failed post, as the SDK classifies errors: 429 is
 * throttling (API Gateway's LimitExceededException), 500/502/503/504 and network errors are transient,
 * other 5xx are server errors, the rest are the caller's and are not retried.
 */
function retryErrorType(failure: PostError): "THROTTLING" | "TRANSIENT" | "SERVER_ERROR" | "CLIENT_ERROR" {
  const status = failure.$metadata.httpStatusCode;
  if (status === undefined) return "TRANSIENT";
  if (status === 429) return "THROTTLING";
  if ([500, 502, 503, 504].includes(status)) return "TRANSIENT";
  return status > 500 ? "SERVER_ERROR" : "CLIENT_ERROR";
}

function errorName(status: number, headers: Record<string, string>): string {
  const header = headers["x-amzn-errortype"]?.split(":")[0];
  if (header) return header;
  return NAME_BY_STATUS[status] ?? (status >= 500 ? "InternalServerError" : "ApiGatewayManagementApiServiceException");
}

function messageOf(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: string; Message?: string };
    return parsed.message ?? parsed.Message ?? body;
  } catch {
    return body;
  }
}

/** Discards a body nobody reads (an answer without content), so its socket goes back to the agent. */
function drain(body: unknown) {
  (body as { resume?: () => void } | undefined)?.resume?.();
}

async function readBody(body: unknown): Promise<string> {
  if (!body || typeof (body as NodeJS.ReadableStream).on !== "function") return "";
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8");
}
