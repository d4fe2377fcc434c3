/**
 * What crosses Pulumi's closure serialization arrives whole. A class that extends a built-in error is
 * serialized as a function calling `Error.call(this, message)`, which sets no message: its instances
 * reached the shipped code without their reason. Errors are plain `Error`s with fields set on them.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import { bundleFactory } from "../components/bundle";
import { readStackFile } from "../local/stackConfig";
import { connectionPoster } from "../runtime/connectionPoster";
import { parseTidingsConfig } from "../runtime/config";
import { createTidingsStack } from "../stack";
import { inlineFunctions, settle, shippedCode, useMocks } from "../testing";

describe("serialization-safe errors", function () {
  this.timeout(120_000);

  it("no shipped function carries a subclass of a built-in error", async () => {
    useMocks();
    const raw = readStackFile();
    raw.channels.push = { enabled: true, provider: "sns", apnsPlatformApplicationArn: "arn:aws:sns:us-east-1:123456789012:app/APNS/ios" };
    raw.statusCallbacks = {
      url: "https://hooks.example.com/tidings",
      secretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:cb-AbCdEf",
    };
    raw.websocket = { sendMessage: { enabled: true } };
    createTidingsStack({ config: parseTidingsConfig(raw), tokenSigningSecret: pulumi.secret("s".repeat(40)) });
    await settle();
    expect(inlineFunctions.length).to.be.greaterThan(10);
    for (const fn of inlineFunctions) {
      const { serialized } = await shippedCode(fn);
      // The serializer's form of `class X extends <built-in error>`: `__super: global.Error` (or TypeError, …).
      expect(serialized, fn.name).not.to.match(/__super: global\.\w*Error\b/);
    }
  });

  it("a post's error keeps its name, message and status in the serialized poster", async () => {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(403, { "content-type": "application/json", "x-amzn-errortype": "ForbiddenException" });
        res.end(JSON.stringify({ message: "the role may not post here" }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dev`;
    try {
      const bundle = await bundleFactory("poster", () => {
        const post = connectionPoster;
        return async (client: Parameters<typeof connectionPoster>[0]) => post(client, new TextEncoder().encode("{}"))("c1");
      });
      const dir = path.join(__dirname, ".shipped");
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, `poster-${process.pid}.js`);
      fs.writeFileSync(file, bundle.text);
      const handler = require(file)[bundle.exportName];
      const { ApiGatewayManagementApiClient } = await import("@aws-sdk/client-apigatewaymanagementapi");
      const client = new ApiGatewayManagementApiClient({
        endpoint,
        region: "us-east-1",
        credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "secret" },
        maxAttempts: 1,
      });
      const failure = await handler(client).then(
        () => undefined,
        (error: Error & { $metadata?: { httpStatusCode?: number } }) => error,
      );
      client.destroy();
      expect(failure).to.be.instanceOf(Error);
      expect(failure.message).to.equal("the role may not post here");
      expect(failure.name).to.equal("ForbiddenException");
      expect(failure.$metadata).to.deep.equal({ httpStatusCode: 403 });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
