/**
 * A local stand-in for Lambda's Invoke API, so the `lambda` provider runs in the local mode and in tests
 * exactly as deployed: the worker's LambdaClient (AWS_ENDPOINT_URL_LAMBDA) invokes a TypeScript handler
 * registered under the function's ARN or name.
 *
 * Wire: `POST /2015-03-31/functions/{FunctionName}/invocations`, body = payload. A handler's result is
 * the 200 body; a handler that throws answers 200 with `X-Amz-Function-Error: Unhandled` and
 * `{ errorType, errorMessage }`, as Lambda does; an unknown function is 404 ResourceNotFoundException.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

// biome-ignore lint/suspicious/noExplicitAny: each handler declares its own event type (the payload is JSON).
export type LocalLambdaHandler = (event: any) => Promise<unknown>;

export interface LocalLambdaServer {
  endpoint: string;
  /** Invocations so far, by function name or ARN as the caller gave it. */
  invocations: { functionName: string; payload: unknown }[];
  stop(): Promise<void>;
}

export async function startLocalLambda(handlers: Record<string, LocalLambdaHandler>, port = 0): Promise<LocalLambdaServer> {
  const invocations: LocalLambdaServer["invocations"] = [];
  const byName = (functionName: string) =>
    handlers[functionName] ??
    Object.entries(handlers).find(([arn]) => arn.endsWith(`:function:${functionName}`) || functionName.endsWith(`:function:${arn}`))?.[1];
  const server = http.createServer(async (req, res) => {
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(new URL(req.url ?? "/", "http://127.0.0.1").pathname);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== "POST" || !match) {
      res.writeHead(404, { "content-type": "application/json", "x-amzn-errortype": "UnknownOperationException" });
      return res.end(JSON.stringify({ message: `${req.method} ${req.url} is not a Lambda operation here` }));
    }
    const functionName = decodeURIComponent(match[1]);
    const handler = byName(functionName);
    if (!handler) {
      res.writeHead(404, { "content-type": "application/json", "x-amzn-errortype": "ResourceNotFoundException" });
      return res.end(JSON.stringify({ Type: "User", message: `Function not found: ${functionName}` }));
    }
    let payload: unknown;
    try {
      payload = chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : {};
    } catch {
      res.writeHead(400, { "content-type": "application/json", "x-amzn-errortype": "InvalidRequestContentException" });
      return res.end(JSON.stringify({ Type: "User", message: "Could not parse request body into json" }));
    }
    invocations.push({ functionName, payload });
    try {
      const result = await handler(payload);
      res.writeHead(200, { "content-type": "application/json", "x-amz-executed-version": "$LATEST" });
      res.end(JSON.stringify(result ?? null));
    } catch (error) {
      res.writeHead(200, { "content-type": "application/json", "x-amz-function-error": "Unhandled" });
      res.end(JSON.stringify({ errorType: (error as Error)?.name ?? "Error", errorMessage: (error as Error)?.message ?? String(error) }));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    invocations,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
