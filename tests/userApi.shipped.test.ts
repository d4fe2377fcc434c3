/**
 * The end-user API (UserApi) and the producer's user-data routes (UserDataRoutes) as `pulumi up` ships
 * them: their graph (routes, auth, least-privilege IAM scoped to ARNs, KMS) under mocks, and their
 * serialized handlers run against dynalite, a local Secrets Manager and a management-API stand-in.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import * as aws from "@pulumi/aws";
import { expect } from "chai";
import { ConnectionsTable } from "../components/ConnectionsTable";
import { ContactsTable } from "../components/ContactsTable";
import { EncryptionKey } from "../components/EncryptionKey";
import { FeedTable } from "../components/FeedTable";
import { NotificationLogTable } from "../components/NotificationLogTable";
import { SettingsTable } from "../components/SettingsTable";
import { USER_API_ROUTES, UserApi } from "../components/UserApi";
import { USER_DATA_ROUTES, UserDataRoutes } from "../components/UserDataRoutes";
import { type LocalAws, startLocalAws } from "../local/aws";
import { type EventBridgeEvent, type LocalEventBus, startEventBus } from "../local/eventBridge";
import { type LocalSecretsManager, startSecretsManager } from "../local/secretsManager";
import { signDevToken } from "../local/tokens";
import { makeFeed } from "../runtime/feed";
import type { HttpRequestEvent } from "../runtime/http";
import { makeNotificationLog } from "../runtime/notificationLog";
import { makeLinkSigner, sealLink } from "../runtime/tracking";
import { type MockedResource, settle, useMocks, outputValue } from "../testing";
import { asProducer, loadShipped } from "./helpers/shipped";

const SECRET = "user-api-test-secret-0123456789-abcdefghijklmnop";
const SECRET_ARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:tidings-token-signing-AbCdEf";
const AUTH = { issuer: "https://auth.example.com", audience: "tidings" };
const TYPES = {
  "order.shipped": { channels: ["websocket", "email"], defaultOptIn: true },
  "security.alert": { channels: ["websocket", "email"], defaultOptIn: true, critical: true },
};

describe("UserApi and UserDataRoutes (graph and shipped code)", function () {
  this.timeout(120_000);
  let localAws: LocalAws;
  let secrets: LocalSecretsManager;
  let management: Server;
  const posted: { method: string; connectionId: string; frame?: any }[] = [];
  let resources: MockedResource[];
  let names: Record<"feed" | "contacts" | "settings" | "log" | "connections", string>;
  let ddb: DynamoDBDocumentClient;
  let userApi: (event: HttpRequestEvent) => Promise<any>;
  /** The end-user API composed with the bus: self-service contact details on. */
  let selfServiceApi: (event: HttpRequestEvent) => Promise<any>;
  let bus: LocalEventBus;
  const busEvents: EventBridgeEvent[] = [];
  let userData: (event: HttpRequestEvent) => Promise<any>;
  let components: { api: UserApi; routes: UserDataRoutes; keyArn: string; tableArns: Record<string, string>; selfApiUrl?: string };
  const savedEnv = { ...process.env };
  const consoleLog = console.log;

  before(async () => {
    console.log = () => {};
    localAws = await startLocalAws();
    localAws.applyEnv();
    bus = await startEventBus();
    process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = bus.endpoint;
    secrets = await startSecretsManager();
    Object.assign(process.env, secrets.env);
    secrets.put(SECRET_ARN, SECRET);
    management = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const match = /^\/dev\/@connections\/([^/]+)$/.exec(req.url ?? "");
        if (!match) return res.writeHead(404).end();
        const body = Buffer.concat(chunks).toString("utf8");
        posted.push({ method: req.method!, connectionId: decodeURIComponent(match[1]), frame: body ? JSON.parse(body) : undefined });
        res.writeHead(req.method === "DELETE" ? 204 : 200).end();
      });
    });
    await new Promise<void>((resolve) => management.listen(0, "127.0.0.1", () => resolve()));
    process.env.AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI = `http://127.0.0.1:${(management.address() as AddressInfo).port}/dev`;

    resources = useMocks();
    const key = new EncryptionKey("tidings");
    const tables = {
      feed: new FeedTable("feed", { kmsKeyArn: key.arn }),
      contacts: new ContactsTable("contacts", { kmsKeyArn: key.arn }),
      settings: new SettingsTable("settings", { kmsKeyArn: key.arn }),
      log: new NotificationLogTable("notification-log", { kmsKeyArn: key.arn }),
      connections: new ConnectionsTable("connections", { kmsKeyArn: key.arn }),
    };
    const websocket = {
      managementEndpoint: "https://ws123.execute-api.us-east-1.amazonaws.com/dev",
      executionArn: "arn:aws:execute-api:us-east-1:000000000000:ws123",
      stageName: "dev",
    };
    const producerApi = new aws.apigatewayv2.Api("producer-api", { protocolType: "HTTP" });
    const apiArgs = {
      feedTable: tables.feed,
      contactsTable: tables.contacts,
      settingsTable: tables.settings,
      notificationLogTable: tables.log,
      connectionsTable: tables.connections,
      websocket,
      tokenSigningSecretArn: SECRET_ARN,
      auth: AUTH,
      enabledChannels: ["websocket", "email"],
      types: TYPES,
      allowOrigins: ["https://app.example.com"],
      kmsKeyArn: key.arn,
    };
    const api = new UserApi("user-api", { ...apiArgs, maxDevicesPerUser: 2 });
    const notificationsBus = new aws.cloudwatch.EventBus("notifications", {});
    const selfApi = new UserApi("user-api-self", { ...apiArgs, bus: notificationsBus, enabledChannels: ["websocket", "email", "sms"] });
    const routes = new UserDataRoutes("user-data", {
      api: producerApi,
      authorization: { type: "AWS_IAM" },
      contactsTable: tables.contacts,
      settingsTable: tables.settings,
      feedTable: tables.feed,
      connectionsTable: tables.connections,
      notificationLogTable: tables.log,
      websocket,
      kmsKeyArn: key.arn,
    });
    await settle();
    names = {
      feed: await outputValue(tables.feed.name),
      contacts: await outputValue(tables.contacts.name),
      settings: await outputValue(tables.settings.name),
      log: await outputValue(tables.log.name),
      connections: await outputValue(tables.connections.name),
    };
    const tableArns: Record<string, string> = {};
    for (const [k, t] of Object.entries(tables)) tableArns[k] = await outputValue(t.arn);
    components = { api, routes, keyArn: await outputValue(key.arn), tableArns };
    await localAws.createTables({
      feed: names.feed,
      contacts: names.contacts,
      settings: names.settings,
      notificationLog: names.log,
      connections: names.connections,
    });
    ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
    userApi = (await loadShipped(api.function)).handler;
    selfServiceApi = (await loadShipped(selfApi.function)).handler;
    bus.addRule({
      name: "see-all",
      eventBusName: await outputValue(notificationsBus.name),
      pattern: { source: ["tidings"] },
      target: async (e) => void busEvents.push(e),
    });
    components.selfApiUrl = await outputValue(selfApi.url);
    userData = asProducer((await loadShipped(routes.function)).handler);
  });

  after(async () => {
    console.log = consoleLog;
    ddb?.destroy();
    await new Promise<void>((resolve) => (management ? management.close(() => resolve()) : resolve()));
    await secrets?.stop();
    await bus?.stop();
    await localAws?.stop();
    process.env = savedEnv;
  });

  const statementsOf = (prefix: string) => {
    const role = resources.find((r) => r.type === "aws:iam/role:Role" && r.name === `${prefix}-service-role`)!;
    return JSON.parse(role.inputs.inlinePolicies[0].policy).Statement as { Action: string[]; Resource: string[] }[];
  };

  it("graph: one HTTP API with every end-user route, and the user-data routes on the producer API behind its IAM auth", () => {
    const routeKeys = resources.filter((r) => r.type === "aws:apigatewayv2/route:Route").map((r) => r.inputs.routeKey);
    expect(routeKeys).to.include.members([...USER_API_ROUTES, ...USER_DATA_ROUTES]);
    for (const route of resources.filter(
      (r) => r.type === "aws:apigatewayv2/route:Route" && USER_DATA_ROUTES.includes(r.inputs.routeKey),
    )) {
      expect(route.inputs.authorizationType).to.equal("AWS_IAM");
      expect(route.inputs.apiId).to.equal(
        resources.find((r) => r.type === "aws:apigatewayv2/api:Api" && r.name === "producer-api")!.state.id,
      );
    }
    const api = resources.find((r) => r.type === "aws:apigatewayv2/api:Api" && r.name === "user-api")!;
    expect(api.inputs.protocolType).to.equal("HTTP");
    const stage = resources.find((r) => r.type === "aws:apigatewayv2/stage:Stage" && r.name === "user-api-default")!;
    expect(stage.inputs.defaultRouteSettings.throttlingRateLimit).to.be.greaterThan(0);
    for (const name of ["user-api-service-logs", "user-data-service-logs", "user-api-access-logs"]) {
      expect(resources.find((r) => r.type === "aws:cloudwatch/logGroup:LogGroup" && r.name === name)?.inputs.kmsKeyId, name).to.equal(
        components.keyArn,
      );
    }
  });

  it("graph: least privilege, every statement scoped to named ARNs; the secret only for the end-user API", () => {
    for (const prefix of ["user-api", "user-data"]) {
      for (const statement of statementsOf(prefix)) {
        for (const action of statement.Action) expect(action, prefix).to.not.include("*");
        for (const resource of statement.Resource) {
          expect(resource, `${prefix} ${statement.Action}`).to.match(/^arn:aws:[a-z/-]+:/);
          expect(resource.split(":").slice(5).join(":"), `${prefix} ${statement.Action}`).to.not.equal("*");
        }
      }
    }
    const api = statementsOf("user-api");
    const data = statementsOf("user-data");
    const actionsOn = (statements: typeof api, arn: string) => statements.filter((s) => s.Resource.includes(arn)).flatMap((s) => s.Action);
    expect(actionsOn(api, SECRET_ARN)).to.deep.equal(["secretsmanager:GetSecretValue"]);
    expect(actionsOn(data, SECRET_ARN)).to.deep.equal([]);
    // A link reads its notification, then records the click: nothing else on the log.
    expect(actionsOn(api, components.tableArns.log)).to.deep.equal(["dynamodb:GetItem", "dynamodb:UpdateItem"]);
    expect(actionsOn(api, components.tableArns.feed)).to.not.include("dynamodb:DeleteItem");
    expect(actionsOn(data, components.tableArns.feed)).to.include("dynamodb:DeleteItem");
    // Erasure deletes the user's log items, found by the keys-only index: it reads nothing else there.
    expect(actionsOn(data, components.tableArns.log)).to.deep.equal(["dynamodb:BatchWriteItem"]);
    expect(actionsOn(data, `${components.tableArns.log}/index/userEventIds`)).to.deep.equal(["dynamodb:Query"]);
    expect(actionsOn(api, components.keyArn)).to.deep.equal(["kms:Decrypt", "kms:GenerateDataKey"]);
    const manage = api.find((s) => s.Action.includes("execute-api:ManageConnections"))!;
    expect(manage.Resource).to.deep.equal(["arn:aws:execute-api:us-east-1:000000000000:ws123/dev/POST/@connections/*"]);
  });

  const bearer = async (userId: string) => `Bearer ${await signDevToken({ secret: SECRET, userId, ...AUTH })}`;
  const event = (method: string, path: string, options: { auth?: string; body?: unknown; query?: string } = {}): HttpRequestEvent => ({
    rawPath: path,
    rawQueryString: options.query ?? "",
    headers: options.auth ? { authorization: options.auth } : {},
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    isBase64Encoded: false,
    // As API Gateway names the route: the user-data function checks each route's scope by its key.
    requestContext: { http: { method, path }, routeKey: `${method} ${path.replace(/^\/users\/[^/]+/, "/users/{userId}")}` },
  });
  const json = (result: any) => ({ status: result.statusCode, body: result.body ? JSON.parse(result.body) : undefined });

  async function seedFeed(userId: string, eventId: string, createdAt: string, callback?: string) {
    const delivery = {
      eventId,
      userId,
      type: "order.shipped",
      channel: "websocket",
      kind: callback ? ("actionable" as const) : ("feedback" as const),
      content: { text: `note ${eventId}` },
      ...(callback ? { callback } : {}),
      address: {},
      createdAt,
    };
    await makeFeed({ ddb, table: names.feed }).store(delivery);
    const log = makeNotificationLog({ ddb, table: names.log });
    await log.create({ eventId, channel: "websocket", userId, type: "order.shipped", status: "created", delivery });
    await log.setStatus(eventId, "websocket", "sent");
  }

  it("shipped end-user API: lists the feed, marks read (log opened, read frame to the user's connections), 401 without a token", async () => {
    await seedFeed("ann", "evt-a", "2026-11-30T10:00:00.000Z");
    await seedFeed("ann", "evt-b", "2026-11-30T11:00:00.000Z");
    await ddb.send(
      new PutCommand({
        TableName: names.connections,
        Item: { connectionId: "ann-phone=", userId: "ann", ttl: Math.floor(Date.now() / 1000) + 3600 },
      }),
    );
    const auth = await bearer("ann");
    const listed = json(await userApi(event("GET", "/me/notifications", { auth, query: "limit=1" })));
    expect(listed.status).to.equal(200);
    expect(listed.body.items.map((i: any) => i.eventId)).to.deep.equal(["evt-b"]);
    expect(listed.body.unreadCount).to.equal(2);
    const next = json(await userApi(event("GET", "/me/notifications", { auth, query: `limit=1&cursor=${listed.body.nextCursor}` })));
    expect(next.body.items.map((i: any) => i.eventId)).to.deep.equal(["evt-a"]);

    const read = json(await userApi(event("POST", "/me/notifications/read", { auth, body: { eventIds: ["evt-a"] } })));
    expect(read).to.deep.equal({ status: 200, body: { unreadCount: 1 } });
    expect(posted).to.deep.include({
      method: "POST",
      connectionId: "ann-phone=",
      frame: { type: "read", eventIds: ["evt-a"], unreadCount: 1 },
    });
    expect(await makeNotificationLog({ ddb, table: names.log }).get("evt-a", "websocket")).to.include({ status: "opened" });

    // Mark all read: one write of the read mark; the frame says up to when, and the list reads it as readAt.
    const all = json(await userApi(event("POST", "/me/notifications/read", { auth, body: { all: true } })));
    expect(all.body.unreadCount).to.equal(0);
    expect(posted).to.deep.include({
      method: "POST",
      connectionId: "ann-phone=",
      frame: { type: "read", eventIds: [], upTo: all.body.upTo, unreadCount: 0 },
    });
    const after = json(await userApi(event("GET", "/me/notifications", { auth })));
    expect(after.body.items.find((i: any) => i.eventId === "evt-b").readAt).to.equal(all.body.upTo);
    const archived = json(await userApi(event("POST", "/me/notifications/archive", { auth, body: { eventIds: ["evt-b"] } })));
    expect(archived.status).to.equal(200);
    expect(
      json(await userApi(event("GET", "/me/notifications", { auth, query: "archived=true" }))).body.items.map((i: any) => i.eventId),
    ).to.deep.equal(["evt-b"]);

    expect(json(await userApi(event("GET", "/me/notifications"))).status).to.equal(401);
    const other = await bearer("bob");
    expect(json(await userApi(event("POST", "/me/notifications/archive", { auth: other, body: { eventIds: ["evt-b"] } }))).status).to.equal(
      404,
    );
  });

  it("shipped end-user API: a link sealed with the stack's link key records clicked and redirects to the logged callback; preferences refuse switching off a critical type", async () => {
    await seedFeed("cy", "evt-c", "2026-11-30T12:00:00.000Z", "https://app.example.com/c");
    const signer = makeLinkSigner({ getKey: async () => new TextEncoder().encode(SECRET), baseUrl: "https://u.example.com" });
    const link = await signer.click({ eventId: "evt-c", channel: "websocket" });
    // Opaque: neither the user, the notification nor the callback can be read from the link.
    expect(link).to.not.match(/evt-c|app\.example/);
    expect(Buffer.from(new URL(link).pathname.slice(3), "base64url").toString("latin1")).to.not.match(/"cy"|evt-c|app\.example/);
    const click = await userApi(event("GET", new URL(link).pathname));
    expect(click.statusCode).to.equal(302);
    expect(click.headers.location).to.equal("https://app.example.com/c");
    // Sealed with the token-signing secret itself (not the link key derived from it), it is no link.
    const forged = sealLink(new TextEncoder().encode(SECRET.slice(0, 32)), { e: "evt-c", c: "websocket", a: "c", x: 4102444800 });
    expect((await userApi(event("GET", `/t/${forged}`))).statusCode).to.equal(404);
    expect(await makeNotificationLog({ ddb, table: names.log }).get("evt-c", "websocket")).to.include({ status: "clicked" });

    const auth = await bearer("cy");
    const refused = json(await userApi(event("PUT", "/me/preferences", { auth, body: { types: { "security.alert": { email: false } } } })));
    expect(refused.status).to.equal(400);
    expect(refused.body.problems[0].field).to.equal("types.security.alert.email");
    const prefs = json(await userApi(event("GET", "/me/preferences", { auth })));
    expect(prefs.body.types["security.alert"]).to.deep.equal({
      critical: true,
      defaultOptIn: true,
      channels: { websocket: true, email: true },
    });
    const device = json(await userApi(event("POST", "/me/devices", { auth, body: { platform: "apns", token: "a".repeat(64) } })));
    expect(device.status).to.equal(201);
  });

  it("shipped end-user API with the bus: a self-entered number gets its code as a logged delivery on the bus, and the code verifies it; an e-mail's link confirms", async () => {
    const auth = await bearer("fay");
    const put = json(
      await selfServiceApi(event("PUT", "/me/contact", { auth, body: { phone: "+15555550177", email: "fay@example.com" } })),
    );
    expect(put.status).to.equal(200);
    expect(put.body.phone).to.deep.include({ address: "+15555550177", verified: false });
    await bus.idle();
    const sms = busEvents.find((e) => e["detail-type"] === "notification.sms" && (e.detail as any).userId === "fay");
    const mail = busEvents.find((e) => e["detail-type"] === "notification.email" && (e.detail as any).userId === "fay");
    expect(sms, JSON.stringify(busEvents.map((e) => e["detail-type"]))).to.not.equal(undefined);
    const smsDelivery = sms!.detail as any;
    expect(smsDelivery).to.deep.include({ type: "tidings.contact-verification", critical: true, address: { phone: "+15555550177" } });
    // Logged like any delivery, so the SMS worker sends it and the reconciler can put it again.
    const log = makeNotificationLog({ ddb, table: names.log });
    expect(await log.get(smsDelivery.eventId, "sms")).to.deep.include({ status: "created", userId: "fay" });
    const code = /code is (\d{6})/.exec(smsDelivery.content.text)![1];
    const verified = json(await selfServiceApi(event("POST", "/me/contact/verify", { auth, body: { channel: "sms", code } })));
    expect(verified.body.phone).to.deep.equal({ address: "+15555550177", verified: true });

    const link = /(https:\/\/\S+\/v\/[A-Za-z0-9_-]+)/.exec((mail!.detail as any).content.text)![1];
    expect(link.startsWith(`${components.selfApiUrl}/v/`), link).to.equal(true);
    const path = new URL(link).pathname;
    expect((await selfServiceApi(event("GET", path))).statusCode).to.equal(200);
    expect(json(await selfServiceApi(event("GET", "/me/contact", { auth }))).body.email.verified).to.equal(false);
    const confirmed = await selfServiceApi(event("POST", path));
    expect(confirmed.statusCode, confirmed.body).to.equal(200);
    expect(json(await selfServiceApi(event("GET", "/me/contact", { auth }))).body.email).to.deep.equal({
      address: "fay@example.com",
      verified: true,
    });
    // The API composed without the bus has no such routes.
    expect(json(await userApi(event("GET", "/me/contact", { auth }))).status).to.equal(404);
  });

  it("shipped user-data routes: contact saved and validated like the service, user erased with their connections closed and their log items deleted", async () => {
    const saved = json(await userData(event("PUT", "/users/dee/contact", { body: { email: "dee@example.com", phone: "+14155550100" } })));
    expect(saved.status).to.equal(200);
    expect(saved.body).to.include({ userId: "dee", email: "dee@example.com" });
    const bad = json(await userData(event("PUT", "/users/dee/contact", { body: { phone: "12345" } })));
    expect(bad.status).to.equal(400);
    expect(bad.body.problems[0].field).to.equal("phone");
    expect(json(await userData(event("GET", "/users/dee/contact"))).body.phone).to.equal("+14155550100");

    await seedFeed("dee", "evt-d", "2026-11-30T13:00:00.000Z");
    await ddb.send(new PutCommand({ TableName: names.connections, Item: { connectionId: "dee-tab=", userId: "dee" } }));
    const log = makeNotificationLog({ ddb, table: names.log });
    const logged = (eventId: string, userId: string) => ({
      eventId,
      channel: "email",
      userId,
      type: "order.shipped",
      status: "created" as const,
    });
    await log.createAll([logged("evt-dee", "dee")]);
    await log.createAll([logged("evt-eve", "eve")]);
    const erased = json(await userData(event("DELETE", "/users/dee")));
    expect(erased.body.erased).to.deep.equal({ contact: true, settings: false, feedItems: 1, connections: 1 });
    expect(posted).to.deep.include({ method: "DELETE", connectionId: "dee-tab=", frame: undefined });
    expect(json(await userData(event("GET", "/users/dee/contact"))).status).to.equal(404);
    expect(await log.rowsOf("evt-dee"), "the erased user's log item").to.deep.equal([]);
    expect(await log.rowsOf("evt-eve"), "another user's").to.have.length(1);
  });
});
