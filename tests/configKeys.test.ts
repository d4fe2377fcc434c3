/**
 * Every `tidings:*` key is read: each is changed from its default and its effect is seen in the graph
 * `pulumi up` would deploy and in the local mode (`npm start`), both built from the same changed config.
 * A key with no entry here fails the first test, so a key added later cannot go unread. A key the local
 * mode has no counterpart for says why.
 *
 * The keys are changed together in two variants (most keys in A; what switches things off in B), so
 * each variant is one graph and one local instance.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as pulumi from "@pulumi/pulumi";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { expect } from "chai";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import type { InlineFunction } from "../components/InlineFunction";
import { readStackFile } from "../local/stackConfig";
import type { LocalTidings } from "../local/tidings";
import { signDevToken } from "../local/tokens";
import { parseTidingsConfig } from "../runtime/config";
import { configKeys } from "../runtime/configSchema";
import type { Provider } from "../runtime/contracts";
import { NOTIFICATION_ITEM } from "../runtime/notificationLog";
import { verifyLinkToken } from "../runtime/tracking";
import { createTidingsStack } from "../stack";
import { inlineFunctions, type MockedResource, settle, shippedCode, useMocks } from "../testing";
import { producerScopes, startQuiet } from "./helpers/localTidings";
import { frames, openSocket, until, upgradeStatus } from "./helpers/sockets";

const PAGER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:pager";
const FALLBACK_ARN = "arn:aws:lambda:us-east-1:123456789012:function:mail-fallback";
const FCM_ARN = "arn:aws:sns:us-east-1:123456789012:app/GCM/tidings-android";
const CALLBACKS_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:qa-callbacks-AbCdEf";
const ISSUER = "https://id.example.org";
const DAY = 86_400;

interface Graph {
  resources: MockedResource[];
  functions: InlineFunction<never, unknown>[];
  one(type: string, name: string): MockedResource;
  /** The shipped code of the function with this logical name. */
  code(name: string): Promise<string>;
  /** The statements of a function's role. */
  policy(name: string): { Action: string[]; Resource: string[] }[];
}

interface Local {
  t: LocalTidings;
  /** The JWKS server of the variant's identity provider and a token it signs. */
  jwksToken?: string;
  lambdaCalls: string[];
  post(path: string, body: unknown, token: string, method?: string): Promise<{ status: number; body: any }>;
  get(path: string, token: string): Promise<{ status: number; body: any }>;
  producer: string;
}

interface KeyEffect {
  /** The key, dotted, as configKeys() names it. */
  key: string;
  variant: "A" | "B";
  set: (raw: Record<string, any>) => unknown;
  /** Asserts the effect (may return a promise). */
  graph: (g: Graph) => unknown;
  /** Its effect locally, or why the local mode has none. */
  local: ((l: Local) => unknown) | { none: string };
}

/** `key:<number>` in shipped code, the number as JavaScript wrote it (esbuild writes 1800000 as 18e5). */
function numberIn(code: string, key: string): number[] {
  return [...code.matchAll(new RegExp(`\\b${key}:([0-9][0-9.e+]*)`, "g"))].map((m) => Number(m[1]));
}

/**
 * A notification type's setting as the shipped code writes the serialized types: `v.critical=!0;…;t["qa.alarm"]=v`.
 */
function typeSettingIn(code: string, type: string, key: string): string | undefined {
  const at = code.indexOf(`["${type}"]=`);
  if (at < 0) return undefined;
  const variable = /^\["[^"]+"\]=([\w$]+)/.exec(code.slice(at))?.[1];
  const before = code.slice(Math.max(0, at - 400), at);
  // Not \b: a minified name may start with `$`, which is no word character.
  return [...before.matchAll(new RegExp(`(?<![\\w$])${variable?.replace("$", "\\$")}\\.${key}=([^;]+);`, "g"))].pop()?.[1];
}

const settingsOf = (l: Local, group: string) => l.t.functions.find((f) => f.group === group)!.spec.settings as any;

const EFFECTS: KeyEffect[] = [
  {
    key: "stage",
    variant: "A",
    set: (raw) => (raw.stage = "qa"),
    graph: (g) => expect(g.one("aws:apigatewayv2/stage:Stage", "websocket-qa").inputs.name).to.equal("qa"),
    local: async (l) => expect(l.t.gateway.managementEndpoint).to.match(/\/qa$/),
  },
  {
    key: "producerAuth",
    variant: "B",
    set: (raw) => (raw.producerAuth = "jwt"),
    graph: (g) => {
      const producerApi = g.one("aws:apigatewayv2/api:Api", "producer-api").state.id;
      const routes = g.resources.filter((r) => r.type === "aws:apigatewayv2/route:Route" && r.inputs.apiId === producerApi);
      // Scheduling is off in this variant: its DELETE route is not there. 5 + the 3 topic routes.
      expect(routes).to.have.length(8);
      for (const route of routes) expect(route.inputs.authorizationType, route.inputs.routeKey).to.equal("JWT");
    },
    local: { none: "the local mode stands a Bearer token in for either auth, checking the same scopes" },
  },
  {
    key: "auth.issuer",
    variant: "A",
    set: (raw) => (raw.auth.issuer = ISSUER),
    graph: async (g) => expect(await g.code("websocket-authorizer")).to.include(ISSUER),
    local: async (l) => {
      const token = await l.t.signToken("alice");
      expect((await l.get("/me/notifications/count", token)).status).to.equal(200);
      const other = await signDevToken({ secret: "x".repeat(40), userId: "alice", issuer: "tidings", audience: "qa-clients" });
      expect((await l.get("/me/notifications/count", other)).status).to.equal(401);
    },
  },
  {
    key: "auth.audience",
    variant: "A",
    set: (raw) => (raw.auth.audience = "qa-clients"),
    graph: async (g) => expect(await g.code("user-api-service")).to.include("qa-clients"),
    local: async (l) => {
      const token = await l.t.signToken("alice");
      const ws = await openSocket(`${l.t.endpoints.websocket}/?token=${encodeURIComponent(token)}`);
      ws.terminate();
    },
  },
  ...(["send", "contactsWrite", "contactsRead", "erase", "topicsWrite"] as const).map(
    (scope): KeyEffect => ({
      key: `auth.scopes.${scope}`,
      variant: "B",
      set: (raw) => {
        raw.auth.scopes ??= {};
        raw.auth.scopes[scope] = `qa:${scope}`;
      },
      graph: (g) => {
        const scoped = g.resources.filter(
          (r) => r.type === "aws:apigatewayv2/route:Route" && r.inputs.authorizationScopes?.includes(`qa:${scope}`),
        );
        expect(scoped.length, `routes requiring qa:${scope}`).to.be.greaterThan(0);
      },
      local: async (l) => {
        const route = {
          send: ["GET", "/notifications/nothing-here"],
          contactsWrite: ["PUT", "/users/qa/contact"],
          contactsRead: ["GET", "/users/qa/contact"],
          erase: ["DELETE", "/users/qa"],
          topicsWrite: ["GET", "/topics/qa/subscribers"],
        }[scope];
        const without = await l.t.signToken("svc", { scope: "notifications:send contacts:write contacts:read users:erase topics:write" });
        const answer = await fetch(`${l.t.endpoints.api}${route[1]}`, {
          method: route[0],
          headers: { authorization: `Bearer ${without}` },
          body: route[0] === "PUT" ? "{}" : undefined,
        });
        expect(answer.status, `${route.join(" ")} with the default scope names`).to.equal(403);
        expect(((await answer.json()) as { missingScope: string }).missingScope).to.equal(`qa:${scope}`);
      },
    }),
  ),
  {
    key: "auth.jwksUrl",
    variant: "A",
    set: () => undefined, // set by the variant, once its JWKS server listens
    graph: async (g) => expect(await g.code("websocket-authorizer")).to.match(/127\.0\.0\.1:\d+\/jwks/),
    local: async (l) => expect((await l.get("/me/notifications/count", l.jwksToken!)).status).to.equal(200),
  },
  {
    key: "auth.keyCacheSeconds",
    variant: "A",
    set: (raw) => (raw.auth.keyCacheSeconds = 0),
    graph: async (g) => expect(numberIn(await g.code("websocket-authorizer"), "keyCacheSeconds")).to.include(0),
    local: async (l) => {
      // Rotated: with no cache, the next token signed with the new key is accepted at once; then back.
      const secrets = new SecretsManagerClient({});
      const current = (await secrets.send(new GetSecretValueCommand({ SecretId: l.t.tokenSecretArn }))).SecretString!;
      const rotated = "r".repeat(48);
      l.t.secrets.put(l.t.tokenSecretArn, rotated);
      try {
        const token = await signDevToken({ secret: rotated, userId: "alice", issuer: ISSUER, audience: "qa-clients" });
        expect((await l.get("/me/notifications/count", token)).status).to.equal(200);
      } finally {
        l.t.secrets.put(l.t.tokenSecretArn, current);
        secrets.destroy();
      }
    },
  },
  {
    key: "auth.maxTokenAgeSeconds",
    variant: "A",
    set: (raw) => (raw.auth.maxTokenAgeSeconds = 60),
    graph: async (g) => expect(numberIn(await g.code("user-api-service"), "maxTokenAgeSeconds")).to.include(60),
    local: async (l) => {
      const old = await l.t.signToken("alice", { issuedAt: Math.floor(Date.now() / 1000) - 600 });
      const answer = await l.get("/me/notifications/count", old);
      expect(answer.status).to.equal(401);
      expect(JSON.stringify(answer.body)).to.match(/too old/);
    },
  },
  {
    key: "websocket.maxConnectionsPerUser",
    variant: "A",
    set: (raw) => (raw.websocket = { ...raw.websocket, maxConnectionsPerUser: 1 }),
    graph: async (g) => expect(numberIn(await g.code("websocket-connect"), "maxConnectionsPerUser")).to.include(1),
    local: async (l) => {
      const url = `${l.t.endpoints.websocket}/?token=${encodeURIComponent(await l.t.signToken("dave"))}`;
      const first = await openSocket(url);
      expect(await upgradeStatus(url)).to.equal(429);
      first.terminate();
    },
  },
  {
    key: "websocket.sendMessage.enabled",
    variant: "A",
    set: (raw) => (raw.websocket = { ...raw.websocket, sendMessage: { ...raw.websocket?.sendMessage, enabled: true } }),
    graph: (g) =>
      expect(g.resources.some((r) => r.type === "aws:apigatewayv2/route:Route" && r.inputs.routeKey === "sendmessage")).to.equal(true),
    local: async (l) => {
      const token = await l.t.signToken("erin", { scope: "qa:chat", rooms: ["ops"] });
      const ws = await openSocket(`${l.t.endpoints.websocket}/?token=${encodeURIComponent(token)}&room=ops`);
      const inbox = frames(ws);
      ws.send(JSON.stringify({ action: "sendmessage", message: "one" }));
      expect(await inbox.nextJson(5000)).to.include({ type: "message", message: "one" });
      ws.send(JSON.stringify({ action: "sendmessage", message: "two" }));
      await inbox.nextJson(5000);
      ws.send(JSON.stringify({ action: "sendmessage", message: "three" }));
      expect(await inbox.nextJson(5000)).to.include({ type: "error", error: "rate_limited" });
      ws.terminate();
    },
  },
  {
    key: "websocket.sendMessage.scope",
    variant: "A",
    set: (raw) => (raw.websocket.sendMessage.scope = "qa:chat"),
    graph: async (g) => expect(await g.code("websocket-sendmessage")).to.include("qa:chat"),
    local: async (l) => {
      const token = await l.t.signToken("frank", { scope: "chat:send", rooms: ["ops"] });
      const ws = await openSocket(`${l.t.endpoints.websocket}/?token=${encodeURIComponent(token)}&room=ops`);
      const inbox = frames(ws);
      ws.send(JSON.stringify({ action: "sendmessage", message: "hi" }));
      expect(await inbox.nextJson(5000)).to.include({ type: "error", error: "forbidden" });
      ws.terminate();
    },
  },
  {
    key: "websocket.sendMessage.perMinute",
    variant: "A",
    set: (raw) => (raw.websocket.sendMessage.perMinute = 2),
    graph: async (g) => expect(numberIn(await g.code("websocket-sendmessage"), "perMinute")).to.include(2),
    local: async (l) => expect(l.t.config.websocket.sendMessage.perMinute).to.equal(2), // and rate_limited at the third: sendMessage.enabled
  },
  {
    key: "deletionProtection",
    variant: "A",
    set: (raw) => (raw.deletionProtection = false),
    graph: (g) => expect(g.one("aws:dynamodb/table:Table", "contacts").inputs.deletionProtectionEnabled).to.equal(false),
    local: { none: "local tables live as long as `npm start`: nothing outlives it to protect" },
  },
  {
    key: "kms.adminArns",
    variant: "A",
    set: (raw) => (raw.kms = { adminArns: ["arn:aws:iam::123456789012:role/key-admins"] }),
    graph: (g) => expect(g.one("aws:kms/key:Key", "tidings").inputs.policy).to.include("arn:aws:iam::123456789012:role/key-admins"),
    local: { none: "the local servers encrypt nothing with a KMS key" },
  },
  {
    key: "tokenSigningSecret",
    variant: "A",
    set: () => undefined, // a Pulumi secret, read by readStackConfig; the graph gets it as tokenSigningSecret
    graph: (g) => expect(g.one("aws:secretsmanager/secretVersion:SecretVersion", "websocket-token-signing").inputs.secretString).to.exist,
    local: { none: "the local mode signs with a secret of its own, made at start" },
  },
  {
    key: "apiGatewayCloudWatchRole",
    variant: "A",
    set: (raw) => (raw.apiGatewayCloudWatchRole = true),
    graph: (g) => expect(g.resources.some((r) => r.type === "aws:apigateway/account:Account")).to.equal(true),
    local: { none: "an account-wide API Gateway setting: nothing of it runs locally" },
  },
  {
    key: "alertEmail",
    variant: "A",
    set: (raw) => (raw.alertEmail = "oncall@example.com"),
    graph: (g) =>
      expect(g.one("aws:sns/topicSubscription:TopicSubscription", "alerts-email").inputs.endpoint).to.equal("oncall@example.com"),
    local: { none: "the local mode shows alarms on the ops page, it mails nobody" },
  },
  {
    key: "logRetentionDays",
    variant: "A",
    set: (raw) => (raw.logRetentionDays = 30),
    graph: (g) => {
      const groups = g.resources.filter((r) => r.type === "aws:cloudwatch/logGroup:LogGroup");
      expect(groups.map((r) => r.inputs.retentionInDays)).to.satisfy((days: number[]) => days.every((d) => d === 30));
    },
    local: { none: "the local mode logs to its console; CloudWatch Logs' retention has no counterpart" },
  },
  {
    key: "connectionTtlHours",
    variant: "A",
    set: (raw) => (raw.connectionTtlHours = 2),
    graph: async (g) => expect(numberIn(await g.code("websocket-connect"), "ttlSeconds")).to.include(2 * 3600),
    local: async (l) => {
      const token = await l.t.signToken("gina");
      const ws = await openSocket(`${l.t.endpoints.websocket}/?token=${encodeURIComponent(token)}`);
      const [id] = l.t.gateway.connections();
      const row = (await l.t.clients.ddb.send(new GetCommand({ TableName: l.t.tables.connections, Key: { connectionId: id } }))).Item;
      expect(row!.ttl - Date.now() / 1000).to.be.within(2 * 3600 - 60, 2 * 3600 + 60);
      ws.terminate();
    },
  },
  {
    key: "logTtlDays",
    variant: "A",
    set: (raw) => (raw.logTtlDays = 30),
    graph: async (g) => {
      expect(numberIn(await g.code("producer-api-service"), "logTtlDays")).to.include(30);
      expect(numberIn(await g.code("email-worker"), "logTtlDays")).to.include(30);
    },
    local: async (l) => {
      const { body } = await l.post("/notifications", { userId: "alice", type: "job.progress", message: "ttl" }, l.producer);
      const item = (
        await l.t.clients.ddb.send(
          new GetCommand({ TableName: l.t.tables.notificationLog, Key: { eventId: body.eventId, channel: NOTIFICATION_ITEM } }),
        )
      ).Item;
      expect(item!.ttl - Date.now() / 1000).to.be.within(30 * DAY - 60, 30 * DAY + 60);
    },
  },
  {
    key: "feed.ttlDays",
    variant: "A",
    set: (raw) => (raw.feed = { ttlDays: 10 }),
    graph: async (g) => expect(numberIn(await g.code("websocket-worker"), "feedTtlDays")).to.include(10),
    local: async (l) => {
      const { body } = await l.post("/notifications", { userId: "alice", type: "job.progress", message: "feed ttl" }, l.producer);
      await until(
        async () =>
          !!(await l.t.clients.ddb.send(new GetCommand({ TableName: l.t.tables.feed, Key: { userId: "alice", eventId: body.eventId } })))
            .Item,
        10_000,
        "the feed item",
      );
      const item = (
        await l.t.clients.ddb.send(new GetCommand({ TableName: l.t.tables.feed, Key: { userId: "alice", eventId: body.eventId } }))
      ).Item;
      expect(item!.ttl - Date.now() / 1000).to.be.within(10 * DAY - 60, 10 * DAY + 60);
    },
  },
  {
    key: "devices.maxPerUser",
    variant: "A",
    set: (raw) => (raw.devices = { maxPerUser: 1 }),
    graph: async (g) => expect(numberIn(await g.code("user-api-service"), "maxDevicesPerUser")).to.include(1),
    local: async (l) => {
      const token = await l.t.signToken("hank");
      await l.post("/me/devices", { platform: "apns", token: "a".repeat(64) }, token);
      const second = await l.post("/me/devices", { platform: "apns", token: "b".repeat(64) }, token);
      expect(second.body).to.include({ evicted: 1 });
    },
  },
  {
    key: "tracking.linkTtlDays",
    variant: "A",
    set: (raw) => (raw.tracking = { ...raw.tracking, linkTtlDays: 3 }),
    graph: async (g) => expect(numberIn(await g.code("producer-api-service"), "linkTtlDays")).to.include(3),
    local: async (l) => {
      const token = await l.t.signToken("alice");
      const { body } = await l.post(
        "/notifications",
        { userId: "alice", type: "job.progress", message: "link", callback: "https://shop.example.com/x" },
        l.producer,
      );
      await until(
        async () => (await l.get("/me/notifications", token)).body.items.some((i: { eventId: string }) => i.eventId === body.eventId),
        10_000,
        "the feed item",
      );
      const item = (await l.get("/me/notifications", token)).body.items.find((i: { eventId: string }) => i.eventId === body.eventId);
      // The token is sealed: open it with the stack's secret, as the end-user API does.
      const secret = (await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: l.t.tokenSecretArn }))).SecretString!;
      const opened = await verifyLinkToken(item.link.split("/t/")[1], { getKey: async () => new TextEncoder().encode(secret) });
      expect(opened.ok && opened.claims.x - Date.now() / 1000).to.be.within(3 * DAY - 60, 3 * DAY + 60);
    },
  },
  {
    key: "tracking.openPixel",
    variant: "A",
    set: (raw) => (raw.tracking = { ...raw.tracking, openPixel: true }),
    graph: async (g) => expect(await g.code("producer-api-service")).to.match(/openPixel:(!0|true)/),
    local: async (l) => {
      const { body } = await l.post(
        "/notifications",
        {
          userId: "alice",
          type: "order.shipped",
          channels: ["email"],
          data: { orderId: "P-1", carrier: "UPS", trackingUrl: "https://t.example.com/P-1" },
          callback: "https://shop.example.com/p",
        },
        l.producer,
      );
      await until(async () => (await l.t.log.get(body.eventId, "email"))?.status === "sent", 15_000, "the e-mail");
      const store = (await (await fetch(`${l.t.endpoints.sesInbox}/store`)).json()) as {
        emails: { body: { html?: string }; subject: string }[];
      };
      expect(store.emails.find((m) => m.subject.includes("P-1"))!.body.html).to.match(/<img src="[^"]*\/t\/[^"]+" width="1" height="1"/);
    },
  },
  {
    key: "dashboard.enabled",
    variant: "B",
    set: (raw) => (raw.dashboard = { enabled: false }),
    graph: (g) => expect(g.resources.some((r) => r.type === "aws:cloudwatch/dashboard:Dashboard")).to.equal(false),
    local: { none: "the ops page is the local dashboard, always on" },
  },
  ...(["queueAgeSeconds", "workerErrors", "workerThrottles", "ruleFailedInvocations"] as const).map(
    (threshold, i): KeyEffect => ({
      key: `alarms.${threshold}`,
      variant: "A",
      set: (raw) => (raw.alarms = { ...raw.alarms, [threshold]: 700 + i }),
      graph: (g) => {
        const thresholds = g.resources.filter((r) => r.type === "aws:cloudwatch/metricAlarm:MetricAlarm").map((r) => r.inputs.threshold);
        expect(thresholds).to.include(700 + i);
      },
      local: { none: "CloudWatch alarm thresholds: the ops page shows the queues themselves" },
    }),
  ),
  {
    key: "scheduling.enabled",
    variant: "B",
    set: (raw) => {
      raw.scheduling = { enabled: false };
      // A digest closes by a schedule: without scheduling the config refuses one (tests/digests.test.ts).
      delete raw.notificationTypes["comment.added"].digest;
    },
    graph: (g) => {
      expect(g.resources.filter((r) => r.type === "aws:scheduler/scheduleGroup:ScheduleGroup")).to.deep.equal([]);
      expect(g.functions.filter((f) => /scheduling/.test(f.name)).map((f) => f.name)).to.deep.equal([]);
      expect(g.policy("producer-api-service").flatMap((st) => st.Action)).to.not.include("scheduler:CreateSchedule");
    },
    local: async (l) => {
      const sendAt = new Date(Date.now() + 3_600_000).toISOString();
      const refused = await l.post("/notifications", { userId: "alice", type: "job.progress", message: "later", sendAt }, l.producer);
      expect(refused.status).to.equal(400);
      expect(refused.body.problems).to.deep.equal([
        { field: "sendAt", problem: "cannot be used: scheduling is off in this stack (tidings:scheduling.enabled)" },
      ]);
      expect(l.t.scheduler).to.equal(undefined);
    },
  },
  {
    key: "topics.enabled",
    variant: "A",
    set: (raw) => (raw.topics = { enabled: false }),
    graph: (g) => {
      expect(g.resources.filter((r) => r.name === "topics" || r.name.startsWith("producer-api-topics"))).to.deep.equal([]);
      expect(g.resources.filter((r) => r.type === "aws:apigatewayv2/route:Route" && /topics/.test(r.inputs.routeKey))).to.deep.equal([]);
      // The service reaches no topics table and no fan-out queue.
      expect(JSON.stringify(g.policy("producer-api-service"))).to.not.match(/topics/);
    },
    local: async (l) => {
      const refused = await l.post("/notifications", { topic: "launch", type: "job.progress", message: "hi" }, l.producer);
      expect(refused.status).to.equal(400);
      expect(refused.body.problems).to.deep.equal([
        { field: "topic", problem: "cannot be used: topics are off in this stack (tidings:topics.enabled)" },
      ]);
      expect((await l.post("/topics/launch/subscribers", { userIds: ["alice"] }, l.producer, "PUT")).status).to.equal(404);
    },
  },
  {
    key: "emailFeedback.enabled",
    variant: "B",
    set: (raw) => (raw.emailFeedback = { enabled: false }),
    graph: (g) => {
      expect(g.resources.filter((r) => r.type.startsWith("aws:sesv2/"))).to.deep.equal([]);
      expect(g.functions.filter((f) => /email-feedback/.test(f.name))).to.deep.equal([]);
      expect(JSON.stringify(g.policy("email-worker"))).to.not.include("configuration-set");
    },
    local: async (l) => {
      expect(l.t.functions.some((f) => f.group === "email-feedback")).to.equal(false);
      const bounce = await l.post("/dev/ses/bounce", { email: "alice@example.com", type: "Permanent" }, l.producer);
      expect(bounce.status).to.equal(404);
    },
  },
  {
    key: "reconciler.enabled",
    variant: "B",
    set: (raw) => (raw.reconciler = { ...raw.reconciler, enabled: false }),
    graph: (g) => expect(g.functions.some((f) => f.name === "reconciler")).to.equal(false),
    local: async (l) => {
      let refused = "";
      await l.t.reconcile().catch((error: Error) => (refused = error.message));
      expect(refused).to.match(/reconciler is off/);
    },
  },
  {
    key: "reconciler.schedule",
    variant: "A",
    set: (raw) => (raw.reconciler = { ...raw.reconciler, schedule: "rate(7 minutes)" }),
    graph: (g) =>
      expect(g.one("aws:cloudwatch/eventRule:EventRule", "reconciler-schedule").inputs.scheduleExpression).to.equal("rate(7 minutes)"),
    local: async (l) =>
      expect(l.t.functions.find((f) => f.group === "reconciler")!.spec.triggers).to.deep.equal([
        { kind: "schedule", expression: "rate(7 minutes)" },
      ]),
  },
  {
    key: "reconciler.stuckAfterMinutes",
    variant: "A",
    set: (raw) => (raw.reconciler = { ...raw.reconciler, stuckAfterMinutes: 20 }),
    graph: async (g) => {
      expect(numberIn(await g.code("reconciler"), "stuckAfterMs")).to.include(20 * 60_000);
      expect(numberIn(await g.code("producer-api-service"), "stuckAfterMs")).to.include(20 * 60_000);
    },
    local: async (l) => {
      expect(settingsOf(l, "reconciler").stuckAfterMs).to.equal(20 * 60_000);
      expect(settingsOf(l, "producer-api").stuckAfterMs).to.equal(20 * 60_000);
    },
  },
  {
    key: "reconciler.maxReputs",
    variant: "A",
    set: (raw) => (raw.reconciler = { ...raw.reconciler, maxReputs: 4 }),
    graph: async (g) => expect(numberIn(await g.code("reconciler"), "maxReputs")).to.include(4),
    local: async (l) => expect(settingsOf(l, "reconciler").maxReputs).to.equal(4),
  },
  {
    key: "reconciler.lookBackHours",
    variant: "A",
    set: (raw) => (raw.reconciler = { ...raw.reconciler, lookBackHours: 48 }),
    graph: async (g) => expect(numberIn(await g.code("reconciler"), "lookBackHours")).to.include(48),
    local: async (l) => expect(settingsOf(l, "reconciler").lookBackHours).to.equal(48),
  },
  {
    key: "statusCallbacks.url",
    variant: "A",
    set: (raw) =>
      (raw.statusCallbacks = { ...raw.statusCallbacks, url: "https://hooks.qa.example.com/tidings", secretArn: CALLBACKS_SECRET }),
    graph: async (g) => expect(await g.code("status-callbacks-sender")).to.include("https://hooks.qa.example.com/tidings"),
    local: async (l) => expect(settingsOf(l, "status-callbacks").url).to.equal("https://hooks.qa.example.com/tidings"),
  },
  {
    key: "statusCallbacks.secretArn",
    variant: "A",
    set: (raw) => (raw.statusCallbacks = { ...raw.statusCallbacks, secretArn: CALLBACKS_SECRET }),
    graph: (g) => expect(g.policy("status-callbacks-sender").flatMap((s) => s.Resource)).to.include(CALLBACKS_SECRET),
    local: { none: "the secret lives in Secrets Manager; the local mode makes one (statusCallbacksSecret) for its receiver" },
  },
  {
    key: "statusCallbacks.maxReceiveCount",
    variant: "A",
    set: (raw) => (raw.statusCallbacks = { ...raw.statusCallbacks, maxReceiveCount: 4 }),
    graph: (g) =>
      expect(JSON.parse(g.one("aws:sqs/queue:Queue", "status-callbacks-queue").inputs.redrivePolicy).maxReceiveCount).to.equal(4),
    local: async (l) => {
      const url = l.t.environments.get(l.t.functions.find((f) => f.group === "status-callbacks")!.spec.description)?.callbacks;
      const attributes = await l.t.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["RedrivePolicy"] }));
      expect(JSON.parse(attributes.Attributes!.RedrivePolicy!).maxReceiveCount).to.equal(4);
    },
  },
  {
    key: "channels.<name>.enabled",
    variant: "B",
    set: (raw) => (raw.channels.sms.enabled = false),
    graph: (g) => expect(g.functions.some((f) => f.name === "sms-worker")).to.equal(false),
    local: async (l) => expect(l.t.channels.map((c) => c.name)).not.to.include("sms"),
  },
  {
    key: "channels.<name>.provider",
    variant: "A",
    set: (raw) => {
      raw.channels.pager = { provider: "lambda", functionArn: PAGER_ARN, needsTemplates: false };
      raw.notificationTypes["incident.opened"] = { channels: ["pager"] };
    },
    graph: (g) => expect(g.policy("pager-worker").some((s) => s.Action.includes("lambda:InvokeFunction"))).to.equal(true),
    local: async (l) => {
      await l.post("/notifications", { userId: "alice", type: "incident.opened", message: "page" }, l.producer);
      await until(() => l.lambdaCalls.includes(PAGER_ARN), 10_000, "the pager function invoked");
    },
  },
  {
    key: "channels.<name>.functionArn",
    variant: "A",
    set: () => undefined, // with channels.<name>.provider: the pager's function
    graph: (g) => expect(g.policy("pager-worker").flatMap((s) => s.Resource)).to.include(PAGER_ARN),
    local: async (l) => expect(l.lambdaCalls).to.include(PAGER_ARN),
  },
  {
    key: "channels.<name>.fallback",
    variant: "A",
    set: (raw) => Object.assign(raw.channels.email, { fallback: "lambda", functionArn: FALLBACK_ARN }),
    graph: (g) => expect(g.policy("email-worker").flatMap((s) => s.Resource)).to.include(FALLBACK_ARN),
    local: async (l) => {
      await l.post(
        "/notifications",
        {
          userId: "bob",
          type: "order.shipped",
          channels: ["email"],
          data: { orderId: "F-1", carrier: "DHL", trackingUrl: "https://t.example.com/F-1" },
        },
        l.producer,
      );
      await until(() => l.lambdaCalls.includes(FALLBACK_ARN), 20_000, "the fallback invoked after the primary failed");
    },
  },
  {
    key: "channels.<name>.failoverAfter",
    variant: "A",
    set: (raw) => (raw.channels.email.failoverAfter = 1),
    graph: async (g) => expect(numberIn(await g.code("email-worker"), "failoverAfter")).to.include(1),
    local: async (l) => expect(settingsOf(l, "channel:email").failoverAfter).to.equal(1),
  },
  {
    key: "channels.<name>.ratePerSecond",
    variant: "A",
    set: (raw) => (raw.channels.slack.ratePerSecond = 3),
    graph: async (g) => expect(numberIn(await g.code("slack-worker"), "ratePerSecond")).to.include(1.5),
    local: async (l) => expect(settingsOf(l, "channel:slack").ratePerSecond).to.equal(3),
  },
  {
    key: "channels.<name>.maxConcurrency",
    variant: "A",
    set: (raw) => (raw.channels.slack.maxConcurrency = 2),
    graph: (g) =>
      expect(g.one("aws:lambda/eventSourceMapping:EventSourceMapping", "slack-mapping").inputs.scalingConfig.maximumConcurrency).to.equal(
        2,
      ),
    local: async (l) => expect(l.t.functions.find((f) => f.group === "channel:slack")!.spec.triggers[0]).to.include({ maxConcurrency: 2 }),
  },
  {
    key: "channels.<name>.batchSize",
    variant: "A",
    set: (raw) => (raw.channels.slack.batchSize = 3),
    graph: (g) => expect(g.one("aws:lambda/eventSourceMapping:EventSourceMapping", "slack-mapping").inputs.batchSize).to.equal(3),
    local: async (l) => expect(l.t.functions.find((f) => f.group === "channel:slack")!.spec.triggers[0]).to.include({ batchSize: 3 }),
  },
  {
    key: "channels.<name>.maxReceiveCount",
    variant: "A",
    set: (raw) => (raw.channels.slack.maxReceiveCount = 6),
    graph: (g) => expect(JSON.parse(g.one("aws:sqs/queue:Queue", "slack-queue").inputs.redrivePolicy).maxReceiveCount).to.equal(6),
    local: async (l) => {
      const slack = l.t.channels.find((c) => c.name === "slack")!;
      const attributes = await l.t.clients.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: slack.queueUrl, AttributeNames: ["RedrivePolicy"] }),
      );
      expect(JSON.parse(attributes.Attributes!.RedrivePolicy!).maxReceiveCount).to.equal(6);
    },
  },
  {
    key: "channels.<name>.workerTimeoutSeconds",
    variant: "A",
    set: (raw) => (raw.channels.slack.workerTimeoutSeconds = 40),
    graph: (g) => expect(g.one("aws:lambda/function:Function", "slack-worker").inputs.timeout).to.equal(40),
    // (The variant overrides every queue's visibility timeout with 1 s, for the fallback's sake.)
    local: async (l) => {
      const slack = l.t.functions.find((f) => f.group === "channel:slack")!.spec;
      expect(slack.timeoutSeconds).to.equal(40);
      expect(settingsOf(l, "channel:slack").claimLeaseSeconds).to.equal(40);
    },
  },
  ...(["limit", "windowSeconds"] as const).map(
    (field): KeyEffect => ({
      key: `channels.<name>.perUser.${field}`,
      variant: "A",
      set: (raw) => (raw.channels.sms.perUser = { limit: 2, windowSeconds: 1800 }),
      graph: async (g) => expect(numberIn(await g.code("sms-worker"), field)).to.include(field === "limit" ? 2 : 1800),
      local: async (l) => expect(settingsOf(l, "channel:sms").perUser[field]).to.equal(field === "limit" ? 2 : 1800),
    }),
  ),
  {
    key: "channels.<name>.from",
    variant: "A",
    set: (raw) => (raw.channels.email.from = "qa@mail.example.net"),
    graph: (g) =>
      expect(g.policy("email-worker").flatMap((s) => s.Resource)).to.include(
        "arn:aws:ses:us-east-1:123456789012:identity/mail.example.net",
      ),
    local: async (l) => {
      const store = (await (await fetch(`${l.t.endpoints.sesInbox}/store`)).json()) as { emails: { from: string }[] };
      expect(store.emails.map((m) => m.from)).to.include("qa@mail.example.net");
    },
  },
  {
    key: "channels.<name>.configurationSet",
    variant: "A",
    set: (raw) => (raw.channels.email.configurationSet = "qa-set"),
    graph: (g) =>
      expect(
        g
          .policy("email-worker")
          .flatMap((s) => s.Resource)
          .some((r) => r.endsWith(":configuration-set/qa-set")),
      ).to.equal(true),
    local: async (l) =>
      expect(
        JSON.parse(
          l.t.environments.get(settingsOf(l, "channel:email") && l.t.functions.find((f) => f.group === "channel:email")!.spec.description)!
            .provider!,
        ),
      ).to.include({ configurationSet: "qa-set" }),
  },
  {
    key: "channels.<name>.smsType",
    variant: "A",
    set: (raw) => (raw.channels.sms.smsType = "Promotional"),
    graph: async (g) => expect(await g.code("sms-worker")).to.include("Promotional"),
    local: async (l) => {
      await until(() => l.t.sinks.sns.received.some((m) => m.phoneNumber), 15_000, "an SMS");
      expect(l.t.sinks.sns.received.find((m) => m.phoneNumber)!.attributes["AWS.SNS.SMS.SMSType"]).to.equal("Promotional");
    },
  },
  {
    key: "channels.<name>.senderId",
    variant: "A",
    set: (raw) => (raw.channels.sms.senderId = "QASHOP"),
    graph: async (g) => expect(await g.code("sms-worker")).to.include("QASHOP"),
    local: async (l) => expect(l.t.sinks.sns.received.find((m) => m.phoneNumber)!.attributes["AWS.SNS.SMS.SenderID"]).to.equal("QASHOP"),
  },
  ...(["apnsPlatformApplicationArn", "fcmPlatformApplicationArn"] as const).map(
    (key): KeyEffect => ({
      key: `channels.<name>.${key}`,
      variant: "A",
      set: (raw) =>
        (raw.channels.push = {
          ...raw.channels.push,
          enabled: true,
          provider: "sns",
          [key]: key.startsWith("apns") ? "arn:aws:sns:us-east-1:123456789012:app/APNS/qa-ios" : FCM_ARN,
        }),
      graph: (g) =>
        expect(JSON.stringify(g.policy("push-worker"))).to.include(
          key.startsWith("apns") ? "endpoint/APNS/qa-ios/*" : "endpoint/GCM/tidings-android/*",
        ),
      local: async (l) => {
        const env = l.t.environments.get(l.t.functions.find((f) => f.group === "channel:push")!.spec.description);
        // The worker starts at its first message; its settings are what it would send through.
        expect(env === undefined || JSON.parse(env.provider!)[key] !== undefined).to.equal(true);
        expect(JSON.stringify(settingsOf(l, "channel:push").provider)).to.include("sns-push");
      },
    }),
  ),
  {
    key: "notificationTypes.<name>.channels",
    variant: "A",
    set: (raw) => (raw.notificationTypes["qa.note"] = { channels: ["websocket"], messageOnly: true }),
    graph: async (g) => expect(await g.code("producer-api-service")).to.include("qa.note"),
    local: async (l) => {
      const { body } = await l.post("/notifications", { userId: "alice", type: "qa.note", message: "hello" }, l.producer);
      expect(Object.keys(body.channels)).to.deep.equal(["websocket"]);
    },
  },
  {
    key: "notificationTypes.<name>.defaultOptIn",
    variant: "A",
    set: (raw) => (raw.notificationTypes["qa.promo"] = { channels: ["websocket"], defaultOptIn: false, messageOnly: true }),
    graph: async (g) => expect(typeSettingIn(await g.code("producer-api-service"), "qa.promo", "defaultOptIn")).to.equal("!1"),
    local: async (l) => {
      const { body } = await l.post("/notifications", { userId: "alice", type: "qa.promo", message: "sale" }, l.producer);
      expect(body.channels).to.deep.equal({ websocket: "skipped: opted out" });
    },
  },
  {
    key: "notificationTypes.<name>.critical",
    variant: "A",
    set: (raw) => (raw.notificationTypes["qa.alarm"] = { channels: ["websocket"], critical: true }),
    graph: async (g) => expect(typeSettingIn(await g.code("producer-api-service"), "qa.alarm", "critical")).to.equal("!0"),
    local: async (l) => {
      const token = await l.t.signToken("ivan");
      await l.post("/me/preferences", { channels: { websocket: false } }, token, "PUT");
      // A critical type's content is its template's (tests' extra templates: qa.alarm/websocket.json).
      const { body } = await l.post("/notifications", { userId: "ivan", type: "qa.alarm", data: { what: "alarm" } }, l.producer);
      expect(body.channels).to.deep.equal({ websocket: "queued" });
    },
  },
  {
    key: "notificationTypes.<name>.templates",
    variant: "A",
    set: (raw) => (raw.notificationTypes["qa.digest"] = { channels: ["websocket"], templates: ["job.progress"] }),
    graph: async (g) => {
      const code = await g.code("producer-api-service");
      const templates = typeSettingIn(code, "qa.digest", "templates");
      // The list is its own variable: `x=["job.progress"]`.
      expect(code).to.include(`${templates}=["job.progress"]`);
    },
    local: async (l) => {
      const ok = await l.post(
        "/notifications",
        { userId: "alice", type: "qa.digest", template: "job.progress", data: { message: "m", percent: 10 } },
        l.producer,
      );
      expect(ok.status, JSON.stringify(ok.body)).to.not.equal(400);
      const refused = await l.post(
        "/notifications",
        { userId: "alice", type: "qa.digest", template: "order.shipped", data: {} },
        l.producer,
      );
      expect(refused.status).to.equal(400);
    },
  },
  {
    key: "userApi.allowOrigins",
    variant: "A",
    set: (raw) => (raw.userApi = { allowOrigins: ["https://qa.example.com", "https://admin.qa.example.com:8443"] }),
    graph: (g) =>
      expect(g.one("aws:apigatewayv2/api:Api", "user-api").inputs.corsConfiguration.allowOrigins).to.deep.equal([
        "https://qa.example.com",
        "https://admin.qa.example.com:8443",
      ]),
    local: { none: "the local mode serves its own pages, and answers only pages on this machine (local/localGuards.ts)" },
  },
  {
    key: "channels.<name>.needsTemplates",
    variant: "A",
    set: () => undefined, // with channels.<name>.provider: the pager sends no rendered content
    graph: () => {
      // Without it, the type reaching the pager needs a template there, and the stack refuses to build.
      const raw = readStackFile() as Record<string, any>;
      raw.channels.pager = { provider: "lambda", functionArn: PAGER_ARN };
      raw.notificationTypes["incident.opened"] = { channels: ["pager"] };
      useMocks();
      expect(() => createTidingsStack({ config: parseTidingsConfig(raw), tokenSigningSecret: pulumi.secret("q".repeat(40)) })).to.throw(
        /<templates>\/incident\.opened\/pager\.json/,
      );
    },
    local: async () => {
      const refused = startQuiet({
        editConfig: (raw) => {
          raw.channels.pager = { provider: "lambda", functionArn: PAGER_ARN };
          raw.notificationTypes["incident.opened"] = { channels: ["pager"] };
        },
      });
      await expectRejection(refused, /the local mode cannot start[\s\S]*incident\.opened\/pager\.json/);
    },
  },
  ...(["afterSeconds", "channels"] as const).map(
    (part): KeyEffect => ({
      key: `notificationTypes.<name>.escalation.${part}`,
      variant: "A",
      set: (raw) =>
        (raw.notificationTypes["qa.escalate"] = {
          channels: ["websocket", "email"],
          messageOnly: true,
          escalation: { afterSeconds: 3600, channels: ["email"] },
        }),
      graph: async (g) => {
        const code = await g.code("producer-api-service");
        const escalation = typeSettingIn(code, "qa.escalate", "escalation")?.replace(/\$/g, "\\$");
        expect(code).to.match(
          new RegExp(`(?<![\\w$])${escalation}\\.afterSeconds=3600;var ([\\w$]+)=\\["email"\\];${escalation}\\.channels=\\1;`),
        );
      },
      local: async (l) => {
        const { body } = await l.post("/notifications", { userId: "alice", type: "qa.escalate", message: "Checkout is down" }, l.producer);
        const held = async () => (await l.t.log.get(body.eventId, "email"))?.status === "delayed";
        await until(held, 20_000, "the e-mail held for the escalation");
        const email = await l.t.log.get(body.eventId, "email");
        // afterSeconds: held until an hour after it was accepted; channels: e-mail waits, the inbox does not.
        expect(Date.parse(email!.until!) - Date.parse(email!.createdAt)).to.be.within(3_599_000, 3_601_000);
        await until(async () => (await l.t.log.get(body.eventId, "websocket"))?.status === "sent", 20_000, "the inbox at once");
      },
    }),
  ),
  ...(["windowSeconds", "key"] as const).map(
    (part): KeyEffect => ({
      key: `notificationTypes.<name>.digest.${part}`,
      variant: "A",
      set: (raw) => (raw.notificationTypes["comment.added"].digest = { windowSeconds: 3600, key: "threadId" }),
      graph: async (g) => {
        const code = await g.code("producer-api-service");
        const digest = typeSettingIn(code, "comment.added", "digest")?.replace(/\$/g, "\\$");
        expect(digest, "the type's digest in the shipped service").to.be.a("string");
        // Serialized as an object literal: `var <digest>={windowSeconds:3600,key:"threadId"}`.
        const literal = new RegExp(`\\bvar ${digest}=\\{[^}]*\\b${part}:${part === "key" ? '"threadId"' : "3600"}(?=[,}])`);
        expect(code).to.match(literal);
      },
      local: async (l) => {
        const comment = (threadId: string) =>
          l.post(
            "/notifications",
            { userId: "alice", type: "comment.added", data: { threadId, threadTitle: "Launch", author: "bob", excerpt: "LGTM" } },
            l.producer,
          );
        const digestOf = async (eventId: string) => (await l.t.log.get(eventId, "email"))?.digestId;
        const [a, b, c] = [await comment("T1"), await comment("T1"), await comment("T2")].map((answer) => answer.body.eventId as string);
        // key: one digest per threadId; windowSeconds: it closes an hour after the first.
        expect(await digestOf(a))
          .to.equal(await digestOf(b))
          .and.to.not.equal(await digestOf(c));
        const digest = (await l.t.log.notificationOf((await digestOf(a))!)).item!;
        const created = Date.parse((await l.t.log.get(a, "email"))!.createdAt);
        expect(Date.parse(digest.schedule!.sendAt) - created).to.be.within(3_599_000, 3_601_000);
      },
    }),
  ),
  {
    key: "notificationTypes.<name>.messageOnly",
    variant: "A",
    set: () => undefined, // with notificationTypes.<name>.channels: qa.note sends literal messages only
    graph: async (g) => expect(typeSettingIn(await g.code("producer-api-service"), "qa.note", "messageOnly")).to.equal("!0"),
    local: async () => {
      const refused = startQuiet({ editConfig: (raw) => (raw.notificationTypes["qa.note"] = { channels: ["websocket"] }) });
      await expectRejection(refused, /qa\.note\/websocket\.json/);
    },
  },
  {
    key: "channels.<name>.address.<name>.type",
    variant: "A",
    set: (raw) => {
      raw.channels.teams = {
        provider: "lambda",
        functionArn: FALLBACK_ARN,
        address: {
          webhookUrl: { type: "https-url", hosts: ["*.webhook.office.com"], secret: true },
          room: { type: "string", pattern: "^[a-z]+$", maxLength: 8 },
        },
      };
    },
    graph: async (g) => expect(await g.code("user-data-service")).to.include('"https-url"'),
    local: async (l) => {
      const answer = await l.post(
        "/users/tess/contact",
        { external_channels: { teams: { webhookUrl: "http://a.webhook.office.com/x", room: "ops" } } },
        l.producer,
        "PUT",
      );
      expect(answer.body.problems).to.deep.equal([{ field: "external_channels.teams.webhookUrl", problem: "must be an https URL" }]);
    },
  },
  {
    key: "channels.<name>.address.<name>.hosts",
    variant: "A",
    set: () => undefined, // with channels.<name>.address.<name>.type: the teams channel
    graph: async (g) => expect(await g.code("producer-api-service")).to.include("*.webhook.office.com"),
    local: async (l) => {
      const answer = await l.post(
        "/users/tess/contact",
        { external_channels: { teams: { webhookUrl: "https://evil.example/x", room: "ops" } } },
        l.producer,
        "PUT",
      );
      expect(answer.body.problems).to.deep.equal([
        { field: "external_channels.teams.webhookUrl", problem: "must be a URL on *.webhook.office.com" },
      ]);
    },
  },
  {
    key: "channels.<name>.address.<name>.pattern",
    variant: "A",
    set: () => undefined,
    graph: async (g) => expect(await g.code("user-data-service")).to.include("^[a-z]+$"),
    local: async (l) => {
      const answer = await l.post(
        "/users/tess/contact",
        { external_channels: { teams: { webhookUrl: "https://a.webhook.office.com/x", room: "OPS" } } },
        l.producer,
        "PUT",
      );
      expect(answer.body.problems).to.deep.equal([{ field: "external_channels.teams.room", problem: "does not match ^[a-z]+$" }]);
    },
  },
  {
    key: "channels.<name>.address.<name>.maxLength",
    variant: "A",
    set: () => undefined,
    graph: async (g) => expect(numberIn(await g.code("user-data-service"), "maxLength")).to.include(8),
    local: async (l) => {
      const answer = await l.post(
        "/users/tess/contact",
        { external_channels: { teams: { webhookUrl: "https://a.webhook.office.com/x", room: "abcdefghij" } } },
        l.producer,
        "PUT",
      );
      expect(answer.body.problems).to.deep.equal([{ field: "external_channels.teams.room", problem: "is too long" }]);
    },
  },
  {
    key: "channels.<name>.address.<name>.secret",
    variant: "A",
    set: () => undefined,
    graph: async (g) => expect(await g.code("user-data-service")).to.match(/secret[:=](!0|true)/),
    local: async (l) => {
      const webhookUrl = "https://a.webhook.office.com/x/secret-ABCD";
      expect(
        (await l.post("/users/tess/contact", { external_channels: { teams: { webhookUrl, room: "ops" } } }, l.producer, "PUT")).status,
      ).to.equal(200);
      const read = await l.get("/users/tess/contact", l.producer);
      expect(read.body.external_channels.teams).to.deep.equal({ webhookUrl: "https://a.webhook.office.com/…ABCD", room: "ops" });
    },
  },
  {
    // Last: every type the other entries declare is there to list by name.
    key: "producers.<name>",
    variant: "A",
    set: (raw) => (raw.producers = { svc: Object.keys(raw.notificationTypes), "svc-orders": ["order.*"] }),
    graph: async (g) => {
      // Pulumi serializes the map one key at a time: `x=["order.*"];map["svc-orders"]=x`.
      const code = await g.code("producer-api-service");
      const list = /([\w$]+)=\["order\.\*"\];/.exec(code)?.[1];
      expect(code).to.include(`["svc-orders"]=${list};`);
    },
    local: async (l) => {
      const orders = await l.t.signToken("svc-orders", { scope: "notifications:send" });
      const own = await l.post("/notifications", { userId: "alice", type: "order.shipped", data: { orderId: "1" } }, orders);
      expect(own.status, JSON.stringify(own.body)).to.not.equal(403);
      const other = await l.post("/notifications", { userId: "alice", type: "job.progress", message: "m" }, orders);
      expect(other.status).to.equal(403);
      expect(other.body.problems).to.deep.equal([{ field: "type", problem: "producer svc-orders may not send type job.progress" }]);
    },
  },
];

/** Templates of the types the entries declare, where a test sends one. */
const EXTRA_TEMPLATES = (() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tidings-keys-templates-"));
  fs.mkdirSync(path.join(dir, "qa.alarm"));
  fs.writeFileSync(path.join(dir, "qa.alarm", "websocket.json"), JSON.stringify({ text: "Alarm: {{what}}" }));
  return dir;
})();

/** The promise rejects, with a message matching `pattern`. */
async function expectRejection(promise: Promise<unknown>, pattern: RegExp) {
  const outcome = await promise.then(
    (started) => {
      void (started as { stop?: () => Promise<void> }).stop?.();
      return undefined;
    },
    (error: Error) => error,
  );
  expect(outcome, "rejected").to.be.instanceOf(Error);
  expect(outcome!.message).to.match(pattern);
}

async function buildGraph(raw: Record<string, any>): Promise<Graph> {
  const resources = useMocks();
  createTidingsStack({
    config: parseTidingsConfig(raw),
    tokenSigningSecret: pulumi.secret("q".repeat(40)),
    extraTemplatesDirs: [EXTRA_TEMPLATES],
  });
  await settle();
  const functions = [...inlineFunctions];
  const one = (type: string, name: string) => {
    const found = resources.find((r) => r.type === type && r.name === name);
    if (!found) throw new Error(`no ${type} named ${name} in the graph`);
    return found;
  };
  return {
    resources: [...resources],
    functions,
    one,
    code: async (name) => (await shippedCode(functions.find((f) => f.name === name)!)).text,
    policy: (name) =>
      JSON.parse(one("aws:iam/role:Role", `${name}-role`).inputs.inlinePolicies[0].policy).Statement.map((s: any) => ({
        Action: [s.Action].flat(),
        Resource: [s.Resource].flat(),
      })),
  };
}

describe("every tidings:* key is read: its effect in the graph and in the local mode", function () {
  this.timeout(300_000);

  it("has an effect test for every key of the config schema", () => {
    expect(EFFECTS.map((e) => e.key).sort()).to.deep.equal([...new Set(configKeys())].sort());
  });

  for (const variant of ["A", "B"] as const) {
    describe(`variant ${variant}`, () => {
      const effects = EFFECTS.filter((e) => e.variant === variant);
      let graph: Graph;
      let local: Local;
      let jwks: http.Server | undefined;

      before(async () => {
        const raw = readStackFile();
        raw.auth = { ...raw.auth };
        for (const effect of effects) effect.set(raw);
        let jwksToken: string | undefined;
        if (variant === "A") {
          // An identity provider of the variant's own: its JWKS on loopback, a token it signs (RS256).
          const { publicKey, privateKey } = await generateKeyPair("RS256");
          const jwk = { ...(await exportJWK(publicKey)), kid: "qa", alg: "RS256", use: "sig" };
          jwks = http.createServer((_req, res) => res.end(JSON.stringify({ keys: [jwk] })));
          await new Promise<void>((resolve) => jwks!.listen(0, "127.0.0.1", resolve));
          raw.auth.jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
          jwksToken = await new SignJWT({})
            .setProtectedHeader({ alg: "RS256", kid: "qa" })
            .setSubject("alice")
            .setIssuer(raw.auth.issuer)
            .setAudience(raw.auth.audience)
            .setIssuedAt()
            .setExpirationTime("1h")
            .sign(privateKey);
        }
        graph = await buildGraph(structuredClone(raw));
        const lambdaCalls: string[] = [];
        const t = await startQuiet({
          editConfig: (config) => Object.assign(config, structuredClone(raw)),
          extraTemplatesDirs: [EXTRA_TEMPLATES],
          visibilityTimeoutSeconds: 1,
          lambdaHandlers: {
            [PAGER_ARN]: async () => {
              lambdaCalls.push(PAGER_ARN);
              return { outcome: "sent" };
            },
            [FALLBACK_ARN]: async () => {
              lambdaCalls.push(FALLBACK_ARN);
              return { outcome: "sent" };
            },
          },
          // The e-mail primary always fails retryably here, so the fallback takes over after failoverAfter.
          wrapProvider: (channel: string, provider: Provider, role: string) =>
            channel === "email" && role === "primary" && variant === "A"
              ? {
                  name: provider.name,
                  send: async (delivery) =>
                    delivery.userId === "bob" ? { outcome: "retryable", reason: "injected" } : provider.send(delivery),
                }
              : provider,
        });
        const producer = await t.signToken("svc", { scope: producerScopes(t) });
        const call = async (path: string, init: RequestInit) => {
          const response = await fetch(`${t.endpoints.api}${path}`, init);
          const text = await response.text();
          return { status: response.status, body: text ? JSON.parse(text) : undefined };
        };
        local = {
          t,
          jwksToken,
          lambdaCalls,
          producer,
          post: (path, body, token, method = "POST") =>
            call(path, { method, headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) }),
          get: (path, token) => call(path, { headers: { authorization: `Bearer ${token}` } }),
        };
        // Something to read for the keys seen in what was sent.
        if (variant === "A") {
          await local.post(
            "/notifications",
            {
              userId: "alice",
              type: "order.shipped",
              channels: ["email", "sms"],
              data: { orderId: "Q-1", carrier: "DHL", trackingUrl: "https://t.example.com/Q-1" },
            },
            producer,
          );
          await until(async () => t.sinks.sns.received.length > 0, 15_000, "the first SMS");
        }
      });

      after(async () => {
        await local?.t.stop();
        await new Promise((resolve) => (jwks ? jwks.close(resolve) : resolve(undefined)));
      });

      for (const effect of effects) {
        it(`${effect.key}: in the graph`, () => effect.graph(graph));
        // A key without a local counterpart says why in its entry (the first test checks every key has one).
        const onLocal = effect.local;
        if (typeof onLocal === "function") it(`${effect.key}: in the local mode`, () => onLocal(local));
      }
    });
  }
});
