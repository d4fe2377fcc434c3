/**
 * The trust model (issue 20): one route table, each route's auth enforced at the gateway (the graph), in
 * the function (the shipped handler, from the authorizer context) and in the local mode; producers as
 * identities, each with its own eventIds and the types it may send.
 */
import { createHash } from "node:crypto";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { GetCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { expect } from "chai";
import type { InlineFunction } from "../components/InlineFunction";
import { readStackFile } from "../local/stackConfig";
import type { LocalTidings } from "../local/tidings";
import { parseTidingsConfig, type TidingsConfig } from "../runtime/config";
import { allowedTypes, iamPrincipalOf, producerEventKey, producerOf, typeRefusal } from "../runtime/producers";
import { type HttpRoute, systemFunctions, systemSettings } from "../runtime/system";
import { Tidings } from "../components/Tidings";
import { createTidingsStack } from "../stack";
import { inlineFunctions, type MockedResource, settle, useMocks } from "../testing";
import { devToken, producerScopes, startQuiet } from "./helpers/localTidings";
import { evaluate, type Policy } from "./helpers/iamPolicy";
import { loadShipped } from "./helpers/shipped";
import { connectAtOnce, until, upgradeStatus } from "./helpers/sockets";

const DEFAULT_SCOPES = {
  send: "notifications:send",
  contactsWrite: "contacts:write",
  contactsRead: "contacts:read",
  erase: "users:erase",
  topicsWrite: "topics:write",
};

/** The routes of the one description: every function's HTTP triggers. */
function routeTable(config: TidingsConfig): (HttpRoute & { fn: string })[] {
  return systemFunctions(systemSettings(config)).flatMap(({ spec }) =>
    spec.triggers.flatMap((t) => (t.kind === "http" ? [{ ...t, fn: spec.name }] : [])),
  );
}

/** A path that matches a route key, with values that pass no validation (so no AWS call is needed). */
function pathOf(route: string): string {
  return route
    .split(" ")[1]
    .replace("{eventId}", "not%20an%20id")
    .replace("{userId}", "qa%00")
    .replace("{token}", "x")
    .replace("{proxy+}", "nothing");
}

describe("trust: one route table, enforced at the gateway, in the function and locally", function () {
  this.timeout(120_000);
  const raw = () => readStackFile() as Record<string, any>;
  const config = parseTidingsConfig(raw());
  const routes = routeTable(config);
  const producerRoutes = routes.filter((r) => r.auth.kind === "producer");

  it("declares every HTTP route once, each with its auth: the producer API and /users by scope, the user API by the user's token, the link public", () => {
    const keys = routes.map((r) => `${r.api} ${r.route}`);
    expect(new Set(keys).size).to.equal(keys.length);
    expect(producerRoutes.map((r) => [r.route, r.auth.kind === "producer" && r.auth.scope])).to.have.deep.members([
      ["POST /notifications", "send"],
      ["GET /notifications/{eventId}", "send"],
      ["DELETE /notifications/{eventId}", "send"],
      ["PUT /users/{userId}/contact", "contactsWrite"],
      ["GET /users/{userId}/contact", "contactsRead"],
      ["DELETE /users/{userId}", "erase"],
      ["PUT /topics/{topic}/subscribers", "topicsWrite"],
      ["GET /topics/{topic}/subscribers", "topicsWrite"],
      ["DELETE /topics/{topic}/subscribers/{userId}", "topicsWrite"],
    ]);
    expect(routes.filter((r) => r.auth.kind === "public").map((r) => r.route)).to.deep.equal([
      "GET /t/{token}",
      "GET /u/{token}",
      "POST /u/{token}",
      "GET /v/{token}",
      "POST /v/{token}",
    ]);
    expect(routes.filter((r) => r.api === "user").every((r) => r.auth.kind !== "producer")).to.equal(true);
  });

  describe("in the graph", () => {
    async function graph(edit: (raw: Record<string, any>) => void): Promise<MockedResource[]> {
      const resources = useMocks();
      const stack = raw();
      edit(stack);
      createTidingsStack({ config: parseTidingsConfig(stack), tokenSigningSecret: pulumi.secret("q".repeat(40)) });
      await settle();
      return [...resources];
    }
    const routeOf = (resources: MockedResource[], key: string) => {
      const found = resources.filter((r) => r.type === "aws:apigatewayv2/route:Route" && r.inputs.routeKey === key);
      expect(found, key).to.have.length(1);
      return found[0].inputs;
    };

    it("tidings:producerAuth jwt: every producer route requires its scope from tidings:auth.scopes", async () => {
      const resources = await graph((r) => {
        r.producerAuth = "jwt";
        r.auth = { ...r.auth, issuer: "https://id.example.com", scopes: { contactsRead: "qa:read" } };
      });
      const names = { ...DEFAULT_SCOPES, contactsRead: "qa:read" };
      for (const route of producerRoutes) {
        const inputs = routeOf(resources, route.route);
        expect(inputs.authorizationType, route.route).to.equal("JWT");
        expect(inputs.authorizationScopes, route.route).to.deep.equal([names[route.auth.kind === "producer" ? route.auth.scope : "send"]]);
      }
    });

    it("tidings:producerAuth iam (the default): every producer route is AWS_IAM; the user API's routes carry no gateway auth (the function checks the user's token)", async () => {
      const resources = await graph(() => {});
      for (const route of producerRoutes) expect(routeOf(resources, route.route).authorizationType, route.route).to.equal("AWS_IAM");
      for (const route of routes.filter((r) => r.api === "user")) {
        expect(routeOf(resources, route.route).authorizationType ?? "NONE", route.route).to.equal("NONE");
      }
    });
  });

  describe("in the shipped function (the authorizer context, checked again)", () => {
    const shipped = new Map<string, (event: unknown) => Promise<any>>();
    before(async () => {
      useMocks();
      createTidingsStack({ config: parseTidingsConfig(raw()), tokenSigningSecret: pulumi.secret("q".repeat(40)) });
      await settle();
      for (const route of producerRoutes) {
        if (shipped.has(route.fn)) continue;
        const fn = inlineFunctions.find((f) => f.spec?.name === route.fn) as InlineFunction<unknown, any> | undefined;
        expect(fn, route.fn).to.not.equal(undefined);
        shipped.set(route.fn, (await loadShipped(fn!)).handler);
      }
    });

    const eventFor = (route: HttpRoute, authorizer?: object) => {
      const path = pathOf(route.route);
      const [method] = route.route.split(" ");
      return {
        version: "2.0",
        routeKey: route.route,
        rawPath: path,
        body: method === "POST" || method === "PUT" ? "{}" : undefined,
        pathParameters: { eventId: "not an id", userId: "qa\u0000", token: "x", proxy: "nothing" },
        requestContext: { routeKey: route.route, http: { method, path }, ...(authorizer ? { authorizer } : {}) },
      };
    };

    it("refuses each producer route with 403 naming the scope to a token without it, and lets the same token with it through", async () => {
      for (const route of producerRoutes) {
        if (route.auth.kind !== "producer") continue;
        const handler = shipped.get(route.fn)!;
        const needed = DEFAULT_SCOPES[route.auth.scope];
        const others = Object.values(DEFAULT_SCOPES).filter((s) => s !== needed);
        const refused = await handler(eventFor(route, { jwt: { claims: { sub: "svc" }, scopes: others } }));
        expect(refused.statusCode, route.route).to.equal(403);
        expect(JSON.parse(refused.body).missingScope, route.route).to.equal(needed);
        const allowed = await handler(eventFor(route, { jwt: { claims: { sub: "svc" }, scopes: [needed] } }));
        expect(allowed.statusCode, `${route.route}: ${allowed.body}`).to.equal(400);
      }
    });

    it("answers 401 when the route runs with no authorizer context (deployed without its auth), and lets an IAM caller through", async () => {
      for (const route of producerRoutes) {
        const handler = shipped.get(route.fn)!;
        expect((await handler(eventFor(route))).statusCode, route.route).to.equal(401);
        const iam = await handler(eventFor(route, { iam: { userArn: "arn:aws:sts::123456789012:assumed-role/orders/s1" } }));
        expect(iam.statusCode, route.route).to.equal(400);
      }
    });

    it("answers 404 for a route key the function does not serve", async () => {
      const handler = shipped.get("user-data")!;
      const answer = await handler({ routeKey: "POST /users/{userId}", requestContext: { routeKey: "POST /users/{userId}" } });
      expect(answer.statusCode).to.equal(404);
    });
  });

  describe("in the local mode (npm start)", () => {
    let tidings: LocalTidings;
    let endUser: string;
    before(async () => {
      tidings = await startQuiet();
      endUser = await devToken(tidings, "alice");
    });
    after(() => tidings?.stop());

    const call = async (route: HttpRoute, token?: string) => {
      const method = route.route.startsWith("ANY ") ? "GET" : route.route.split(" ")[0];
      const response = await fetch(`${tidings.endpoints.api}${pathOf(route.route)}`, {
        method,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        body: method === "POST" || method === "PUT" ? "{}" : undefined,
      });
      return { status: response.status, body: (await response.json().catch(() => undefined)) as any };
    };

    it("gives an end user's token 403 on every producer route, and a producer token without a route's scope 403 naming it", async () => {
      for (const route of producerRoutes) {
        if (route.auth.kind !== "producer") continue;
        const needed = DEFAULT_SCOPES[route.auth.scope];
        const asUser = await call(route, endUser);
        expect(asUser.status, route.route).to.equal(403);
        const without = await tidings.signToken("svc", {
          scope: Object.values(DEFAULT_SCOPES)
            .filter((s) => s !== needed)
            .join(" "),
        });
        const refused = await call(route, without);
        expect(refused.status, route.route).to.equal(403);
        expect(refused.body.missingScope, route.route).to.equal(needed);
        const allowed = await call(route, await tidings.signToken("svc", { scope: needed }));
        expect(allowed.status, route.route).to.not.be.oneOf([401, 403]);
      }
    });

    it("answers 401 without a token on every producer and user route, and serves the public link without one", async () => {
      for (const route of routes) {
        const answer = await call(route);
        if (route.auth.kind === "public") expect(answer.status, route.route).to.not.equal(401);
        else expect(answer.status, route.route).to.equal(401);
      }
    });

    it("holds the per-user connection cap exactly: 200 connects at once leave tidings:websocket.maxConnectionsPerUser open", async () => {
      const cap = tidings.config.websocket.maxConnectionsPerUser;
      const token = await devToken(tidings, "crowd");
      const { open, refused } = await connectAtOnce(`${tidings.endpoints.websocket}/?token=${encodeURIComponent(token)}`, 200);
      try {
        expect(open).to.have.length(cap);
        expect(refused).to.deep.equal({ 429: 200 - cap });
      } finally {
        for (const socket of open) socket.close();
      }
    });

    it("guards every local port (API, WebSocket gateway and its management endpoint, SES inbox): a foreign Host or Origin gets 403, and no page may be framed", async () => {
      const { request } = await import("node:http");
      const raw = (url: string, method: string, headers: Record<string, string>) =>
        new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
          const req = request(url, { method, headers }, (res) => {
            let body = "";
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
          });
          req.on("error", reject);
          req.end(method === "POST" ? "{}" : undefined);
        });
      const http = (url: string) => url.replace(/^ws:/, "http:");
      const targets: [string, string, string][] = [
        ["API: the inbox page", "GET", `${tidings.endpoints.api}/`],
        ["API: POST /dev/token", "POST", tidings.endpoints.devToken],
        ["API: POST /ops/redrive", "POST", `${tidings.endpoints.api}/ops/redrive`],
        ["gateway: management endpoint", "POST", `${tidings.gateway.managementEndpoint}/@connections/abc`],
        ["SES: the inbox page", "GET", `${tidings.endpoints.sesInbox}/`],
        ["SES: /store", "GET", `${tidings.endpoints.sesInbox}/store`],
        ["SES: /clear-store", "POST", `${tidings.endpoints.sesInbox}/clear-store`],
      ];
      for (const [what, method, url] of targets) {
        const host = new URL(http(url)).host;
        const foreignHost = await raw(http(url), method, { host: "evil.example" });
        expect(foreignHost.status, `${what}, Host evil.example`).to.equal(403);
        expect(JSON.parse(foreignHost.body).error, what).to.equal("forbidden_host");
        const foreignOrigin = await raw(http(url), method, { host, origin: "https://evil.example" });
        expect(foreignOrigin.status, `${what}, Origin https://evil.example`).to.equal(403);
        expect(JSON.parse(foreignOrigin.body).error, what).to.equal("forbidden_origin");
        const local = await raw(http(url), method, { host, origin: `http://${host}` });
        expect(local.status, `${what}, a loopback page`).to.not.equal(403);
        for (const answer of [foreignHost, local]) {
          expect(answer.headers["x-frame-options"], what).to.equal("DENY");
          expect(answer.headers["content-security-policy"], what).to.equal("frame-ancestors 'none'");
        }
      }
      // A page elsewhere cannot open a user's WebSocket either.
      const token = await devToken(tidings, "alice");
      const url = `${tidings.endpoints.websocket}/?token=${encodeURIComponent(token)}`;
      expect(await upgradeStatus(url, { origin: "https://evil.example" })).to.equal(403);
      expect(await upgradeStatus(url, { origin: `http://127.0.0.1:${new URL(tidings.endpoints.api).port}` })).to.equal(101);
    });

    it("a producer without contacts:write cannot change a contact", async () => {
      const sender = await tidings.signToken("svc-orders", { scope: "notifications:send contacts:read" });
      const answer = await fetch(`${tidings.endpoints.api}/users/alice/contact`, {
        method: "PUT",
        headers: { authorization: `Bearer ${sender}` },
        body: JSON.stringify({ phone: "+14155550199" }),
      });
      expect(answer.status).to.equal(403);
      const read = await fetch(`${tidings.endpoints.api}/users/alice/contact`, { headers: { authorization: `Bearer ${sender}` } });
      expect(((await read.json()) as { phone?: string }).phone).to.not.equal("+14155550199");
    });

    it("never reads a Slack webhook URL back: the contact shows its origin and last 4 characters, and keeps it whole for delivery", async () => {
      const producer = await tidings.signToken("svc", { scope: producerScopes(tidings) });
      const webhookUrl = `${tidings.endpoints.slackSink}/services/T000/B000/secretpart9XyZ`;
      const headers = { authorization: `Bearer ${producer}` };
      const saved = await fetch(`${tidings.endpoints.api}/users/mallory-target/contact`, {
        method: "PUT",
        headers,
        body: JSON.stringify({ email: "t@example.com", external_channels: { slack: { webhookUrl } } }),
      });
      expect(saved.status).to.equal(200);
      const shown = `${new URL(webhookUrl).origin}/…9XyZ`;
      expect(((await saved.json()) as any).external_channels).to.deep.equal({ slack: { webhookUrl: shown } });
      const read = (await (await fetch(`${tidings.endpoints.api}/users/mallory-target/contact`, { headers })).json()) as any;
      expect(read).to.deep.include({
        userId: "mallory-target",
        email: "t@example.com",
        external_channels: { slack: { webhookUrl: shown } },
      });
      expect(JSON.stringify(read)).to.not.include("secretpart");
      const stored = await tidings.clients.ddb.send(
        new GetCommand({ TableName: tidings.tables.contacts, Key: { userId: "mallory-target" } }),
      );
      expect(stored.Item?.external_channels.slack.webhookUrl).to.equal(webhookUrl);
    });

    describe("eventIds belong to their producer", () => {
      const post = (token: string, body: object) =>
        fetch(tidings.endpoints.notifications, {
          method: "POST",
          headers: { authorization: `Bearer ${token}` },
          body: JSON.stringify(body),
        });
      const status = async (token: string, eventId: string) => {
        const response = await fetch(`${tidings.endpoints.notifications}/${eventId}`, { headers: { authorization: `Bearer ${token}` } });
        return { status: response.status, body: (await response.json()) as any };
      };

      it("two producers using one eventId both deliver, each deduplicated on its own; each reads only its own status", async () => {
        const a = await tidings.signToken("svc-a", { scope: producerScopes(tidings) });
        const b = await tidings.signToken("svc-b", { scope: producerScopes(tidings) });
        const eventId = `shared-${Date.now()}`;
        // B squats A's eventId first.
        const squat = await post(b, { eventId, userId: "alice", type: "job.progress", message: "from B" });
        expect(squat.status).to.equal(202);
        const real = await post(a, { eventId, userId: "alice", type: "job.progress", message: "from A" });
        expect(real.status).to.equal(202);
        expect(((await real.json()) as any).channels).to.deep.equal({ websocket: "queued" });
        // Each one's retry is a duplicate of its own.
        const retry = await post(a, { eventId, userId: "alice", type: "job.progress", message: "from A" });
        expect(((await retry.json()) as any).channels).to.deep.equal({ websocket: "duplicate" });

        const feed = async () => {
          const response = await fetch(`${tidings.endpoints.api}/me/notifications`, { headers: { authorization: `Bearer ${endUser}` } });
          return ((await response.json()) as { items: { content: { text: string } }[] }).items.map((i) => i.content.text);
        };
        await until(async () => (await feed()).filter((t) => t === "from A" || t === "from B").length === 2);

        const ofA = await status(a, eventId);
        expect(ofA.status).to.equal(200);
        expect(ofA.body.eventId).to.equal(eventId);
        const ofB = await status(b, eventId);
        expect(ofB.status).to.equal(200);
        // Each sees its own notification's channels; a third producer sees nothing.
        const c = await tidings.signToken("svc-c", { scope: producerScopes(tidings) });
        const ofC = await status(c, eventId);
        expect(ofC.status).to.equal(404);
        const items = [await tidings.log.rowsOf(eventId), await tidings.log.rowsOf(producerEventKey(eventId, "svc-a"))];
        expect(items.map((rows) => rows[0]?.producer)).to.deep.equal(["svc-b", "svc-a"]);
      });

      it("accepts a callback on this machine in the local mode (its receivers run here)", async () => {
        const a = await tidings.signToken("svc-a", { scope: producerScopes(tidings) });
        const answer = await post(a, { userId: "alice", type: "job.progress", message: "m", callback: "http://127.0.0.1:9/done" });
        expect(answer.status).to.equal(202);
      });

      it("a producer reading another's eventId gets 404", async () => {
        const a = await tidings.signToken("svc-a", { scope: producerScopes(tidings) });
        const b = await tidings.signToken("svc-b", { scope: producerScopes(tidings) });
        const eventId = `private-${Date.now()}`;
        expect((await post(a, { eventId, userId: "alice", type: "job.progress", message: "m" })).status).to.equal(202);
        expect((await status(a, eventId)).status).to.equal(200);
        const other = await status(b, eventId);
        expect(other.status).to.equal(404);
        expect(other.body).to.deep.equal({ error: "not found", eventId });
      });

      it("refuses a literal message for a critical type (400 naming message): critical content comes from its template", async () => {
        const a = await tidings.signToken("svc-a", { scope: producerScopes(tidings) });
        const answer = await post(a, { userId: "alice", type: "security.alert", message: "Buy now!" });
        expect(answer.status).to.equal(400);
        expect(((await answer.json()) as any).problems).to.deep.include({
          field: "message",
          problem: "is not allowed for the critical type security.alert: its content comes from its template",
        });
      });
    });
  });
});

describe("producers as identities (runtime/producers.ts)", () => {
  it("is a JWT's client_id, else its sub, with its scopes; an IAM caller's role, whatever the session", () => {
    expect(
      producerOf({ requestContext: { authorizer: { jwt: { claims: { sub: "u", client_id: "svc" }, scopes: ["a"] } } } }),
    ).to.deep.equal({
      id: "svc",
      scopes: ["a"],
    });
    expect(producerOf({ requestContext: { authorizer: { jwt: { claims: { sub: "svc", scope: "a b" } } } } })).to.deep.equal({
      id: "svc",
      scopes: ["a", "b"],
    });
    const role = "arn:aws:iam::123456789012:role/orders";
    expect(iamPrincipalOf("arn:aws:sts::123456789012:assumed-role/orders/i-1")).to.equal(role);
    expect(iamPrincipalOf("arn:aws:sts::123456789012:assumed-role/orders/i-2")).to.equal(role);
    expect(producerOf({ requestContext: { authorizer: { iam: { userArn: "arn:aws:iam::123456789012:user/ci" } } } })).to.deep.equal({
      id: "arn:aws:iam::123456789012:user/ci",
    });
    expect(producerOf({ requestContext: {} })).to.equal(undefined);
  });

  it("may send what tidings:producers lists or a grant recorded: exact names, prefix.*, a critical type only by its name; no list, everything", async () => {
    const configured = { orders: ["order.*", "security.alert"], marketing: ["marketing.*"] };
    const recorded = async (producer: string) => (producer === "arn:aws:iam::123456789012:role/billing" ? ["invoice.*"] : undefined);
    const refusal = async (map: typeof configured | undefined, producer: string, type: string, critical = false) =>
      typeRefusal(await allowedTypes(map, producer, recorded), producer, type, critical);
    expect(await refusal(undefined, "anyone", "security.alert", true)).to.equal(undefined);
    expect(await refusal(configured, "orders", "order.shipped")).to.equal(undefined);
    expect(await refusal(configured, "orders", "security.alert", true)).to.equal(undefined);
    expect(await refusal(configured, "marketing", "marketing.critical", true)).to.equal(
      "producer marketing may not send the critical type marketing.critical: a critical type must be listed by name",
    );
    expect(await refusal(configured, "marketing", "order.shipped")).to.equal("producer marketing may not send type order.shipped");
    expect(await refusal(configured, "stranger", "order.shipped")).to.match(/stranger may send no type/);
    // A prefix is a whole segment: order.* is not orders.
    expect(await refusal(configured, "orders", "orderly.thing")).to.equal("producer orders may not send type orderly.thing");
    // What a grant recorded limits a producer config does not name, with or without tidings:producers.
    const billing = "arn:aws:iam::123456789012:role/billing";
    expect(await refusal(undefined, billing, "invoice.paid")).to.equal(undefined);
    expect(await refusal(undefined, billing, "order.shipped")).to.equal(`producer ${billing} may not send type order.shipped`);
    expect(await refusal(configured, billing, "invoice.paid")).to.equal(undefined);
  });

  it("keys a producer's notification apart when another took its eventId, with a key no producer can send", () => {
    const key = producerEventKey("order-1", "svc-a");
    expect(key).to.match(/^order-1\.[A-Za-z0-9_-]{12}$/);
    expect(producerEventKey("order-1", "svc-b")).to.not.equal(key);
    expect(/^[A-Za-z0-9_-]{1,128}$/.test(key)).to.equal(false);
  });
});

describe("trust: erasing a user leaves nothing that still works for them (npm start)", function () {
  this.timeout(120_000);
  let tidings: LocalTidings;
  let failing = true;
  const decisions: Record<string, any>[] = [];
  before(async () => {
    tidings = await startQuiet({
      visibilityTimeoutSeconds: 1,
      logger: (decision) => void decisions.push(decision),
      // erin's e-mail fails until she is erased: it ends in the e-mail DLQ.
      wrapProvider: (channel, provider) =>
        channel !== "email"
          ? provider
          : {
              name: provider.name,
              send: async (delivery) =>
                failing && delivery.userId === "erin" ? { outcome: "retryable", reason: "injected" } : provider.send(delivery),
            },
    });
  });
  after(() => tidings?.stop());

  it("erases the politeness counters, makes the tracking links 404, and a DLQ'd delivery redriven after erasure is refused, not sent", async () => {
    const producer = await tidings.signToken("svc", { scope: producerScopes(tidings) });
    const headers = { authorization: `Bearer ${producer}` };
    const api = tidings.endpoints.api;
    expect(
      (await fetch(`${api}/users/erin/contact`, { method: "PUT", headers, body: JSON.stringify({ email: "erin@example.com" }) })).status,
    ).to.equal(200);
    const sent = await fetch(tidings.endpoints.notifications, {
      method: "POST",
      headers,
      body: JSON.stringify({
        userId: "erin",
        type: "order.shipped",
        channels: ["websocket", "email"],
        data: { orderId: "E-1", carrier: "DHL", trackingUrl: "https://track.example.com/E-1" },
        callback: "https://shop.example.com/orders/E-1",
      }),
    });
    expect(sent.status).to.equal(202);
    const { eventId } = (await sent.json()) as { eventId: string };

    const erin = await devToken(tidings, "erin");
    const feed = async () =>
      ((await (await fetch(`${api}/me/notifications`, { headers: { authorization: `Bearer ${erin}` } })).json()) as any).items ?? [];
    await until(async () => (await feed()).length === 1, 10_000, "erin's feed item");
    const [item] = await feed();
    const email = tidings.channels.find((c) => c.name === "email")!;
    const dlqDepth = async () =>
      Number(
        (
          await tidings.clients.sqs.send(
            new GetQueueAttributesCommand({ QueueUrl: email.deadLetterQueueUrl, AttributeNames: ["ApproximateNumberOfMessages"] }),
          )
        ).Attributes?.ApproximateNumberOfMessages ?? 0,
      );
    await until(async () => (await dlqDepth()) === 1, 30_000, "erin's e-mail in the DLQ");
    const counters = async () =>
      ((await tidings.clients.ddb.send(new ScanCommand({ TableName: tidings.tables.politeness }))).Items ?? []).filter((i) =>
        String(i.counterKey).endsWith("#erin"),
      );
    expect(await counters()).to.have.length.greaterThan(0);
    const before = await fetch(item.link, { redirect: "manual" });
    expect(before.status, JSON.stringify([await before.text(), decisions.filter((d) => d.component === "tracking")])).to.equal(302);

    expect((await fetch(`${api}/users/erin`, { method: "DELETE", headers })).status).to.equal(200);
    expect(await counters()).to.deep.equal([]);
    expect((await fetch(item.link, { redirect: "manual" })).status).to.equal(404);

    failing = false;
    const redriven = await fetch(`${api}/ops/redrive`, { method: "POST", body: JSON.stringify({ channel: "email", dlq: "queue" }) });
    expect(((await redriven.json()) as { moved: number }).moved).to.equal(1);
    await until(
      () => decisions.some((d) => d.component === "worker" && d.channel === "email" && d.eventId === eventId && d.outcome === "refused"),
      10_000,
      "the redriven delivery refused",
    );
    const store = (await (await fetch(`${tidings.endpoints.sesInbox}/store`)).json()) as { emails: { destination: { to: string[] } }[] };
    expect(store.emails.filter((m) => m.destination.to.includes("erin@example.com"))).to.deep.equal([]);
  });
});

describe("trust: IAM-mode grants name exact routes, and grantSend's types limit the role (Pulumi mocks)", function () {
  this.timeout(120_000);
  let resources: MockedResource[];
  let orders: aws.iam.Role;

  before(async () => {
    resources = useMocks();
    const raw = readStackFile() as Record<string, any>;
    const { tokenSigningSecret: _ignored, ...config } = raw;
    const tidings = new Tidings("tidings", { ...config, tokenSigningSecret: pulumi.secret("q".repeat(40)) } as never);
    orders = new aws.iam.Role("orders", { assumeRolePolicy: "{}" });
    const support = new aws.iam.Role("support", { assumeRolePolicy: "{}" });
    const privacy = new aws.iam.Role("privacy", { assumeRolePolicy: "{}" });
    tidings.grantSend(orders, { types: ["order.*", "security.alert"] });
    tidings.grantContacts(support);
    tidings.grantErase(privacy);
    expect(() => tidings.grantSend(support, { types: ["no.such.type"] })).to.throw(/"no.such.type" is not a notification type/);
    await settle();
  });

  const policyOf = (name: string) => {
    const found = resources.find((r) => r.type === "aws:iam/rolePolicy:RolePolicy" && r.name === name);
    expect(found, name).to.not.equal(undefined);
    return JSON.parse(found!.inputs.policy) as Policy;
  };

  it("grants execute-api:Invoke on exactly each job's routes of the producer API", () => {
    const api = resources.find((r) => r.type === "aws:apigatewayv2/api:Api" && r.name === "producer-api")!;
    const arn = (path: string) => `${api.state.executionArn}/$default/${path}`;
    const granted = (name: string) => policyOf(name).Statement.flatMap((s) => [s.Resource].flat());
    expect(granted("orders-tidings-send")).to.deep.equal([
      arn("POST/notifications"),
      arn("GET/notifications/*"),
      arn("DELETE/notifications/*"),
    ]);
    expect(granted("support-tidings-contacts")).to.deep.equal([arn("PUT/users/*/contact"), arn("GET/users/*/contact")]);
    expect(granted("privacy-tidings-erase")).to.deep.equal([arn("DELETE/users/*")]);
    for (const name of ["orders-tidings-send", "support-tidings-contacts", "privacy-tidings-erase"]) {
      expect(
        policyOf(name).Statement.flatMap((s) => [s.Action].flat()),
        name,
      ).to.deep.equal(["execute-api:Invoke"]);
    }
    // The sender may not erase or touch contacts; the eraser may not send.
    const request = (action: string, path: string) => ({ action, resource: arn(path) });
    expect(evaluate([policyOf("orders-tidings-send")], request("execute-api:Invoke", "DELETE/users/alice"))).to.equal("implicit-deny");
    expect(evaluate([policyOf("orders-tidings-send")], request("execute-api:Invoke", "GET/users/alice/contact"))).to.equal("implicit-deny");
    expect(evaluate([policyOf("orders-tidings-send")], request("execute-api:Invoke", "GET/notifications/e-1"))).to.equal("allow");
    expect(evaluate([policyOf("privacy-tidings-erase")], request("execute-api:Invoke", "POST/notifications"))).to.equal("implicit-deny");
  });

  it("records grantSend's types in the templates bucket under the role's principal, where the service reads them", () => {
    const record = resources.find((r) => r.type === "aws:s3/bucketObjectv2:BucketObjectv2" && r.name === "orders-tidings-types")!;
    const bucket = resources.find((r) => r.type === "aws:s3/bucket:Bucket" && r.name.startsWith("templates"))!;
    expect(record.inputs.bucket).to.equal(bucket.state.id);
    // The principal an assumed-role session of this role names: its ARN without a path.
    const principal = `arn:aws:iam::123456789012:role/${resources.find((r) => r.name === "orders" && r.type === "aws:iam/role:Role")!.state.name}`;
    expect(record.inputs.key).to.equal(`producers/${createHash("sha256").update(principal).digest("hex")}.json`);
    expect(JSON.parse(record.inputs.content)).to.deep.equal({ types: ["order.*", "security.alert"] });
  });
});
