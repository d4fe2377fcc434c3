import { createHash } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import { SignatureV4 } from "@smithy/signature-v4";
import { expect } from "chai";
import { connectionPoster } from "../runtime/connectionPoster";

/** A management API stand-in answering each POST from a script of status codes, recording what came. */
function scriptedServer(script: number[]) {
  const received: { method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      const status = script.shift() ?? 200;
      if (status === 0) return req.socket.destroy(); // a dropped connection
      res.statusCode = status;
      if (status === 410) res.setHeader("x-amzn-errortype", "GoneException");
      res.end(status >= 400 ? JSON.stringify({ message: `status ${status}` }) : undefined);
    });
  });
  return {
    received,
    async start() {
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/dev`;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("connectionPoster: PostToConnection with the SDK's signer, handler and retry strategy", () => {
  const credentials = { accessKeyId: "AKIDTEST", secretAccessKey: "secret" };
  const payload = new TextEncoder().encode('{"type":"notification","message":"hi"}');

  type PostFailure = { name?: string; $metadata?: { httpStatusCode?: number } };

  /** One post to `connectionId` against a server answering `script`; what the server received and what the post threw. */
  async function postAgainst(script: number[], maxAttempts: number, connectionId = "x") {
    const server = scriptedServer(script);
    const client = new ApiGatewayManagementApiClient({ endpoint: await server.start(), region: "eu-west-1", credentials, maxAttempts });
    let failure: PostFailure | undefined;
    try {
      await connectionPoster(
        client,
        payload,
      )(connectionId).catch((error: PostFailure) => {
        failure = error;
      });
    } finally {
      client.destroy();
      await server.stop();
    }
    return { received: server.received, failure };
  }

  it("posts the bytes to /{stage}/@connections/{id}, SigV4-signed for execute-api in the client's region", async () => {
    const { received, failure } = await postAgainst([200], 3, "abc=");
    expect(failure).to.equal(undefined);
    expect(received).to.have.length(1);
    expect(received[0].method).to.equal("POST");
    expect(received[0].url).to.equal("/dev/@connections/abc%3D");
    expect(received[0].body).to.equal('{"type":"notification","message":"hi"}');
    expect(received[0].headers.authorization).to.match(
      /^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=.*host.*, Signature=[0-9a-f]{64}$/,
    );
    expect(received[0].headers["x-amz-date"]).to.match(/^\d{8}T\d{6}Z$/);
  });

  it("signs what it sends: the body's SHA-256 and a signature a verifier recomputes from the received request", async () => {
    const { received } = await postAgainst([200, 200], 3, "abc=");
    const [request] = received;
    // The payload's hash is computed once per delivery; it must still be the hash of the bytes sent.
    expect(request.headers["x-amz-content-sha256"]).to.equal(createHash("sha256").update(request.body).digest("hex"));

    // What API Gateway does: rebuild the canonical request from the path and signed headers as received
    // (SigV4 for execute-api escapes the already escaped path again), sign it with the same key and date,
    // and compare.
    const authorization = String(request.headers.authorization);
    const signedHeaderNames = /SignedHeaders=([^,]+)/.exec(authorization)![1].split(";");
    const headers = Object.fromEntries(signedHeaderNames.map((name) => [name, String(request.headers[name])]));
    const amzDate = String(request.headers["x-amz-date"]);
    const signingDate = new Date(
      `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
    );
    const verifier = new SignatureV4({
      service: "execute-api",
      region: "eu-west-1",
      credentials,
      sha256: new ApiGatewayManagementApiClient({}).config.sha256,
    });
    const resigned = await verifier.sign(
      { method: "POST", protocol: "http:", hostname: "127.0.0.1", path: String(request.url), headers, query: {}, body: request.body },
      { signingDate },
    );
    expect(resigned.headers.authorization).to.equal(authorization);
  });

  it("answers 410 with a GoneException carrying the status, without retrying", async () => {
    const { received, failure } = await postAgainst([410], 3);
    expect(failure?.name).to.equal("GoneException");
    expect(failure?.$metadata?.httpStatusCode).to.equal(410);
    expect(received).to.have.length(1);
  });

  it("does not retry a client error (403)", async () => {
    const { received, failure } = await postAgainst([403, 200], 3);
    expect(failure?.name).to.equal("ForbiddenException");
    expect(received).to.have.length(1);
  });

  it("retries throttling, server errors and dropped connections as the SDK does, and succeeds", async () => {
    const { received, failure } = await postAgainst([429, 503, 0], 4);
    expect(failure).to.equal(undefined);
    expect(received).to.have.length(4);
    // The whole body is sent again on every attempt.
    expect(new Set(received.map((r) => r.body))).to.have.property("size", 1);
  });

  it("gives up after the client's maxAttempts with the last error", async () => {
    const { received, failure } = await postAgainst([500, 500, 500], 2);
    expect(received).to.have.length(2);
    expect(failure?.$metadata?.httpStatusCode).to.equal(500);
  });
});
