/**
 * Status callbacks (issue 11, item 2): the signature, the local mode end to end (a receiver that fails
 * at first gets every final status once it answers 2xx, each signed), the shipped sender Lambda, and the
 * stack's queue, DLQ alarm and scoped permissions when `tidings:statusCallbacks` is set.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import { StatusCallbacks } from "../components/StatusCallbacks";
import { type LocalAws, startLocalAws } from "../local/aws";
import { type LocalSecretsManager, startSecretsManager } from "../local/secretsManager";
import { readStackFile } from "../local/stackConfig";
import type { LocalTidings } from "../local/tidings";
import { parseTidingsConfig } from "../runtime/config";
import { makeCallbackSender, SIGNATURE_HEADER, signCallback, verifyCallback } from "../runtime/statusCallbacks";
import { createTidingsStack } from "../stack";
import { devToken, producerScopes, startQuiet } from "./helpers/localTidings";
import { ofType, settle, useMocks, outputValue as outputOf } from "../testing";
import { loadShipped } from "./helpers/shipped";
import { until } from "./helpers/sockets";

const SECRET = "callback-secret-0123456789";

/** A producer endpoint on 127.0.0.1 that answers `failFirst` requests with 500, then 204, recording what it got. */
async function startReceiver(failFirst = 0) {
  const got: { body: any; verified: boolean }[] = [];
  let requests = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests++;
      if (requests <= failFirst) {
        res.writeHead(500).end();
        return;
      }
      const raw = Buffer.concat(chunks).toString("utf8");
      const header = req.headers[SIGNATURE_HEADER] as string | undefined;
      got.push({ body: JSON.parse(raw), verified: verifyCallback(SECRET, header, raw, Math.floor(Date.now() / 1000)) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/tidings`,
    got,
    requests: () => requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("status callbacks", function () {
  this.timeout(60_000);

  it("signs t.body with HMAC-SHA256; a tampered body, another secret or a stale timestamp does not verify", () => {
    const body = JSON.stringify({ eventId: "e1", status: "sent" });
    const header = signCallback(SECRET, 1_700_000_000, body);
    expect(header).to.match(/^t=1700000000,v1=[0-9a-f]{64}$/);
    expect(verifyCallback(SECRET, header, body, 1_700_000_100)).to.equal(true);
    expect(verifyCallback(SECRET, header, `${body} `, 1_700_000_100)).to.equal(false);
    expect(verifyCallback("other-secret", header, body, 1_700_000_100)).to.equal(false);
    expect(verifyCallback(SECRET, header, body, 1_700_000_000 + 301)).to.equal(false);
    expect(verifyCallback(SECRET, undefined, body, 1_700_000_000)).to.equal(false);
  });

  it("follows no redirect: a 3xx is a failed POST, retried, and the place it points to hears nothing", async () => {
    let redirectedTo = 0;
    const target = createServer((_req, res) => {
      redirectedTo++;
      res.end();
    });
    const endpoint = createServer((_req, res) => {
      res.writeHead(307, { location: `http://127.0.0.1:${(target.address() as AddressInfo).port}/internal` });
      res.end();
    });
    await Promise.all([target, endpoint].map((s) => new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve))));
    const decisions: Record<string, unknown>[] = [];
    try {
      const send = makeCallbackSender({
        url: `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/hook`,
        getSecret: async () => SECRET,
        sqs: undefined as never,
        queueUrl: "unused: the record has no receipt handle",
        logger: (d) => void decisions.push(d),
        metrics: { count: () => undefined, latency: () => undefined },
      });
      const body = JSON.stringify({ eventId: "e", userId: "u", type: "t", channel: "email", status: "sent", at: new Date().toISOString() });
      const answer = await send({ Records: [{ messageId: "m1", body }] });
      expect(answer.batchItemFailures).to.deep.equal([{ itemIdentifier: "m1" }]);
      expect(decisions.map((d) => d.reason)).to.deep.equal(["endpoint answered 307 (redirects are not followed)"]);
      expect(redirectedTo).to.equal(0);
    } finally {
      await Promise.all([target, endpoint].map((s) => new Promise((resolve) => s.close(resolve))));
    }
  });

  describe("in the local mode", () => {
    let tidings: LocalTidings;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    before(async () => {
      receiver = await startReceiver(2);
      tidings = await startQuiet({
        reconcileIntervalMs: 0,
        statusCallbacks: { url: receiver.url, secret: SECRET, baseBackoffSeconds: 1 },
      });
    });
    after(async () => {
      await tidings?.stop();
      await receiver?.stop();
    });

    it("POSTs each final status (sent, unsubscribed) signed, and retries with backoff until the endpoint answers 2xx", async () => {
      const token = await devToken(tidings, "p", producerScopes(tidings));
      const post = async (body: object) =>
        fetch(tidings.endpoints.notifications, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      const shipped = `cb-${randomUUID()}`;
      const digest = `cb-${randomUUID()}`;
      expect(
        (await post({ eventId: shipped, userId: "bob", type: "order.shipped", channels: ["email"], message: "Shipped" })).status,
      ).to.equal(202);
      // marketing.digest is opt-in: bob never opted in, so e-mail is unsubscribed at once.
      expect((await post({ eventId: digest, userId: "bob", type: "marketing.digest", message: "News" })).status).to.equal(202);
      await until(() => receiver.got.length >= 2, 20_000, "two callbacks");
      const byEvent = Object.fromEntries(receiver.got.map((g) => [g.body.eventId, g]));
      expect(byEvent[shipped].body).to.include({ userId: "bob", type: "order.shipped", channel: "email", status: "sent", provider: "ses" });
      expect(byEvent[digest].body).to.include({ channel: "email", status: "unsubscribed", reason: "opted out" });
      expect(receiver.got.every((g) => g.verified)).to.equal(true);
      expect(receiver.requests()).to.equal(4, "two refused, then one each");
    });
  });

  describe("shipped sender Lambda", () => {
    let localAws: LocalAws;
    let secrets: LocalSecretsManager;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    before(async () => {
      localAws = await startLocalAws();
      localAws.applyEnv();
      secrets = await startSecretsManager();
      Object.assign(process.env, secrets.env);
      receiver = await startReceiver(1);
    });
    after(async () => {
      await receiver?.stop();
      await secrets?.stop();
      await localAws?.stop();
    });

    it("reads the secret from Secrets Manager, POSTs signed, and reports a refused POST as a batch item failure", async () => {
      useMocks();
      const secretArn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:tidings-callbacks-AbCdEf";
      secrets.put(secretArn, SECRET);
      // The component refuses a non-https URL; the shipped code is the same for any URL.
      const callbacks = new StatusCallbacks("status-callbacks", {
        url: "https://producer.example.com/hooks",
        secretArn,
        kmsKeyArn: "arn:aws:kms:us-east-1:000000000000:key/local",
        alertsTopicArn: "arn:aws:sns:us-east-1:000000000000:alerts",
      });
      await settle();
      const shipped = await loadShipped(callbacks.sender);
      // Point the shipped module's captured URL at the local receiver: the serialized text names it once.
      const text = shipped.text.replace(/https:\/\/producer\.example\.com\/hooks/g, receiver.url);
      expect(text).to.not.equal(shipped.text);
      const file = shipped.file.replace(/\.js$/, "-local.js");
      require("node:fs").writeFileSync(file, text);
      const handler = require(file).handler as (e: any) => Promise<any>;
      const record = (id: string) => ({
        messageId: id,
        body: JSON.stringify({
          eventId: id,
          userId: "ada",
          type: "order.shipped",
          channel: "sms",
          status: "error",
          at: new Date().toISOString(),
          reason: "x",
        }),
        attributes: { ApproximateReceiveCount: "1" },
      });
      expect(await handler({ Records: [record("m1")] })).to.deep.equal({ batchItemFailures: [{ itemIdentifier: "m1" }] });
      expect(await handler({ Records: [record("m2")] })).to.deep.equal({ batchItemFailures: [] });
      expect(receiver.got.map((g) => [g.body.eventId, g.verified])).to.deep.equal([["m2", true]]);
      expect(() => new StatusCallbacks("bad", { url: "http://x", secretArn, kmsKeyArn: "k", alertsTopicArn: "a" })).to.throw(/https:\/\//);
    });
  });

  it("in the stack: a queue with a DLQ alarm, a sender that may read only its secret, and every decider allowed to send to that queue only", async () => {
    const resources = useMocks();
    const raw = readStackFile();
    const secretArn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cb-AbCdEf";
    raw.statusCallbacks = { url: "https://shop.example.com/hooks/tidings", secretArn };
    const stack = createTidingsStack({ config: parseTidingsConfig(raw), tokenSigningSecret: pulumi.secret("x".repeat(40)) });
    await settle();
    const queueArn = await outputOf(stack.statusCallbacks!.queue.arn);
    const dlqName = await outputOf(stack.statusCallbacks!.deadLetterQueue.name);
    const alarm = ofType(resources, "aws:cloudwatch/metricAlarm:MetricAlarm").find((a) => a.inputs.dimensions?.QueueName === dlqName);
    expect(alarm?.inputs.threshold).to.equal(1);
    const policy = (role: string) => JSON.parse(resources.find((r) => r.name === role)!.inputs.inlinePolicies[0].policy).Statement;
    expect(
      policy("status-callbacks-sender-role").find((s: any) => s.Action.includes("secretsmanager:GetSecretValue")).Resource,
    ).to.deep.equal([secretArn]);
    for (const role of ["email-worker-role", "sms-worker-role", "producer-api-service-role", "reconciler-role"]) {
      // What the role may do on the callbacks queue: send, nothing else.
      const onQueue = policy(role)
        .filter((s: any) => [s.Resource].flat().includes(queueArn))
        .flatMap((s: any) => s.Action);
      expect(onQueue, role).to.deep.equal(["sqs:SendMessage"]);
    }
    const mapping = ofType(resources, "aws:lambda/eventSourceMapping:EventSourceMapping").find(
      (m) => m.name === "status-callbacks-mapping",
    );
    expect(mapping?.inputs.functionResponseTypes).to.deep.equal(["ReportBatchItemFailures"]);
  });
});
