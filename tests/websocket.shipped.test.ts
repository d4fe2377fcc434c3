/**
 * The code `pulumi up` would ship for the WebSocketApi, run for real: each InlineFunction's factory is
 * serialized and loaded, its handlers wired into the local gateway, with dynalite for the connections
 * table and the Secrets Manager stand-in holding the signing key under the mocked secret ARN.
 */
import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import WebSocket from "ws";
import { SignJWT, UnsecuredJWT } from "jose";
import { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { settle, useMocks, outputValue } from "../testing";
import { loadShipped, type ShippedModule } from "./helpers/shipped";
import { connectAtOnce, frames, openSocket, until, upgradeStatus } from "./helpers/sockets";
import { postToConnections } from "../runtime/deliver";
import { ConnectionsTable } from "../components/ConnectionsTable";
import { EncryptionKey } from "../components/EncryptionKey";
import { WebSocketApi, type WebSocketFunctionName } from "../components/WebSocketApi";
import { type LocalAws, startLocalAws } from "../local/aws";
import { startWebSocketGateway, type WebSocketGateway } from "../local/gateway";
import { type LocalSecretsManager, startSecretsManager } from "../local/secretsManager";
import { signDevToken } from "../local/tokens";
import type { ChannelDelivery } from "../runtime/contracts";
import { makeWebSocketProvider, NO_OPEN_CONNECTION } from "../runtime/providers/websocket";
import { makeSecretKeyLoader, makeTokenVerifier, makeWebSocketAuthorizer } from "../runtime/authorizer";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

const SECRET = "shipped-test-signing-secret-9f8e7d6c5b4a39281706";
const ISSUER = "tidings-test";
const AUDIENCE = "tidings-clients";
const TTL_HOURS = 3;

describe("WebSocketApi shipped code against the local gateway", function () {
  this.timeout(60_000);
  let aws: LocalAws;
  let secrets: LocalSecretsManager;
  let gateway: WebSocketGateway;
  let ddb: DynamoDBDocumentClient;
  let mgmt: ApiGatewayManagementApiClient;
  let tableName: string;
  const shipped = {} as Record<Exclude<WebSocketFunctionName, "sendmessage">, ShippedModule<any, any>> & {
    sendmessage?: ShippedModule<any, any>;
  };
  const sockets: WebSocket[] = [];
  const savedEnv = { ...process.env };
  /** Simulates API Gateway losing a `$disconnect` (it is best effort), leaving a stale row behind. */
  let dropDisconnects = false;

  before(async () => {
    aws = await startLocalAws();
    aws.applyEnv();
    secrets = await startSecretsManager();
    Object.assign(process.env, secrets.env);
    // The gateway must exist before the handlers load (they read its endpoint from the env), so its
    // routes call whatever `shipped` holds at the time of the event.
    gateway = await startWebSocketGateway({
      stage: "dev",
      authorize: (event) => shipped.authorizer.handler(event),
      routes: {
        $connect: (event) => shipped.connect.handler(event),
        $disconnect: async (event) => (dropDisconnects ? undefined : shipped.disconnect.handler(event)),
        $default: (event) => shipped.default.handler(event),
        sendmessage: (event) => shipped.sendmessage!.handler(event),
      },
      onError: (route, error) => console.error(`route ${route} failed:`, error),
    });
    process.env.AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI = gateway.managementEndpoint;

    useMocks();
    const key = new EncryptionKey("tidings");
    const table = new ConnectionsTable("connections", { kmsKeyArn: key.arn });
    const ws = new WebSocketApi("ws", {
      connectionsTable: table,
      kmsKeyArn: key.arn,
      tokenSigningSecret: pulumi.secret(SECRET),
      auth: { issuer: ISSUER, audience: AUDIENCE },
      connectionTtlHours: TTL_HOURS,
      chat: { enabled: true, perMinute: 3 },
      maxConnectionsPerUser: 3,
    });
    await settle();
    tableName = await outputValue(table.name);
    await aws.createTables({ connections: tableName });
    secrets.put(await outputValue(ws.secret.arn), SECRET);
    for (const [name, fn] of Object.entries(ws.functions) as [WebSocketFunctionName, any][]) {
      shipped[name] = await loadShipped(fn);
    }

    ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
    mgmt = new ApiGatewayManagementApiClient({ endpoint: gateway.managementEndpoint });
  });

  after(async () => {
    for (const socket of sockets) socket.terminate();
    await gateway?.stop();
    ddb?.destroy();
    mgmt?.destroy();
    await secrets?.stop();
    await aws?.stop();
    process.env = savedEnv;
  });

  const token = (
    userId: string,
    overrides: { secret?: string; issuer?: string; audience?: string; expiresIn?: string | number; scope?: string; rooms?: string[] } = {},
  ) =>
    signDevToken({
      secret: overrides.secret ?? SECRET,
      userId,
      issuer: overrides.issuer ?? ISSUER,
      audience: overrides.audience ?? AUDIENCE,
      expiresIn: overrides.expiresIn,
      scope: overrides.scope,
      rooms: overrides.rooms,
    });
  const urlWith = (jwt: string, room?: string) => `${gateway.url}/?token=${encodeURIComponent(jwt)}${room ? `&room=${room}` : ""}`;
  /** A user's connection; with `room`, a chat member holding chat:send and that room in its token. */
  const connectAs = async (userId: string, chat: { room?: string; scope?: string; rooms?: string[] } = {}) => {
    const jwt = await token(userId, {
      scope: chat.scope ?? (chat.room ? "chat:send" : undefined),
      rooms: chat.rooms ?? (chat.room ? [chat.room] : undefined),
    });
    const socket = await openSocket(urlWith(jwt, chat.room));
    sockets.push(socket);
    return { socket, inbox: frames(socket) };
  };
  const items = async () => ((await ddb.send(new ScanCommand({ TableName: tableName }))).Items ?? []) as Record<string, any>[];
  /** Connection rows; the users' slots (runtime/connectionSlots.ts) are items of the table too. */
  const rows = async () => (await items()).filter((r) => !String(r.connectionId).startsWith("#slot#"));
  const slotsOf = async (userId: string) => (await items()).filter((r) => String(r.connectionId).startsWith(`#slot#${userId}#`));
  const rowsOf = async (userId: string) => (await rows()).filter((r) => r.userId === userId);
  const key = () => new TextEncoder().encode(SECRET);

  it("ships no copy of the signing secret in any function", () => {
    for (const [name, module] of Object.entries(shipped)) expect(module.text, name).not.to.include(SECRET);
  });

  it("connects with a valid token and stores userId, sourceIp, connectedAt and ttl", async () => {
    const before = Math.floor(Date.now() / 1000);
    await connectAs("alice");
    const [row] = await rowsOf("alice");
    expect(row).to.exist;
    expect(gateway.connections()).to.include(row.connectionId);
    expect(row.sourceIp).to.equal("127.0.0.1");
    expect(Date.parse(row.connectedAt)).to.be.closeTo(Date.now(), 5000);
    expect(row.ttl).to.be.within(before + TTL_HOURS * 3600, before + TTL_HOURS * 3600 + 5);
  });

  it("refuses bad tokens at $connect and stores nothing for them", async () => {
    const now = Math.floor(Date.now() / 1000);
    const refused: Record<string, Promise<number>> = {
      "forged signature": token("mallory", { secret: "another-secret-of-at-least-32-characters!!" }).then((t) => upgradeStatus(urlWith(t))),
      expired: token("mallory", { expiresIn: now - 60 }).then((t) => upgradeStatus(urlWith(t))),
      "wrong issuer": token("mallory", { issuer: "someone-else" }).then((t) => upgradeStatus(urlWith(t))),
      "wrong audience": token("mallory", { audience: "another-app" }).then((t) => upgradeStatus(urlWith(t))),
      "alg none": upgradeStatus(
        urlWith(new UnsecuredJWT({}).setSubject("mallory").setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime("1h").encode()),
      ),
      "HS512 with the right key": new SignJWT({})
        .setProtectedHeader({ alg: "HS512" })
        .setSubject("mallory")
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setExpirationTime("1h")
        .sign(key())
        .then((t) => upgradeStatus(urlWith(t))),
      "missing sub": new SignJWT({})
        .setProtectedHeader({ alg: "HS256" })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setExpirationTime("1h")
        .sign(key())
        .then((t) => upgradeStatus(urlWith(t))),
      "not yet valid": new SignJWT({})
        .setProtectedHeader({ alg: "HS256" })
        .setSubject("mallory")
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setNotBefore(now + 600)
        .setExpirationTime(now + 3600)
        .sign(key())
        .then((t) => upgradeStatus(urlWith(t))),
      "missing token": upgradeStatus(gateway.url),
      "empty token": upgradeStatus(`${gateway.url}/?token=`),
      "garbage token": upgradeStatus(urlWith("not.a.jwt")),
      "token in a header": token("mallory").then((t) => upgradeStatus(gateway.url, { Authorization: `Bearer ${t}`, token: t })),
    };
    for (const [what, status] of Object.entries(refused)) expect(await status, what).to.equal(403);
    expect(await rowsOf("mallory")).to.deep.equal([]);
    expect(await slotsOf("mallory")).to.deep.equal([]);
    expect((await rows()).every((r) => typeof r.userId === "string" && r.userId !== "mallory")).to.equal(true);
  });

  it("reads the signing key from Secrets Manager once per cold start", async () => {
    await connectAs("carol");
    expect(secrets.calls).to.equal(1);
  });

  it("answers unknown actions and non-JSON with an error frame and keeps the socket usable", async () => {
    const { socket, inbox } = await connectAs("dave", { room: "lobby" });
    socket.send(JSON.stringify({ action: "dance" }));
    expect(await inbox.nextJson()).to.deep.equal({
      type: "error",
      error: "unknown_action",
      message: 'Unknown action "dance". Known actions: sendmessage',
    });
    socket.send("hello there");
    expect(await inbox.nextJson()).to.include({ type: "error", error: "invalid_json" });
    socket.send(JSON.stringify({ hello: 1 }));
    expect(await inbox.nextJson()).to.include({ type: "error", error: "missing_action" });

    expect(socket.readyState).to.equal(WebSocket.OPEN);
    socket.send(JSON.stringify({ action: "sendmessage", message: "still here" }));
    expect(await inbox.nextJson()).to.deep.equal({ type: "message", room: "lobby", from: "dave", message: "still here" });
  });

  describe("sendmessage room chat (switched on here; off by default)", () => {
    it("posts only to the connections of the sender's room, never to other rooms or users without one", async () => {
      const erin = await connectAs("erin", { room: "ops" });
      const frank = await connectAs("frank", { room: "ops" });
      const gus = await connectAs("gus", { room: "sales" });
      const hal = await connectAs("hal");
      erin.socket.send(JSON.stringify({ action: "sendmessage", message: "hi ops" }));
      const expected = { type: "message", room: "ops", from: "erin", message: "hi ops" };
      expect(await erin.inbox.nextJson()).to.deep.equal(expected);
      expect(await frank.inbox.nextJson()).to.deep.equal(expected);
      await new Promise((r) => setTimeout(r, 150));
      expect(gus.inbox.queued, "another room").to.equal(0);
      expect(hal.inbox.queued, "no room").to.equal(0);
      expect(shipped.sendmessage!.text, "no table Scan in the shipped chat").not.to.include("ScanCommand");
    });

    it("answers an invalid or deceptive message only to the sender", async () => {
      const ivy = await connectAs("ivy", { room: "quiet" });
      const jon = await connectAs("jon", { room: "quiet" });
      ivy.socket.send(JSON.stringify({ action: "sendmessage" }));
      expect(await ivy.inbox.nextJson()).to.include({ type: "error", error: "invalid_message" });
      ivy.socket.send(JSON.stringify({ action: "sendmessage", message: "x".repeat(32 * 1024 + 1) }));
      expect(await ivy.inbox.nextJson()).to.include({ type: "error", error: "invalid_message" });
      ivy.socket.send(JSON.stringify({ action: "sendmessage", message: "pay \u202Egnp.exe" }));
      expect(await ivy.inbox.nextJson()).to.include({ type: "error", error: "invalid_message" });
      await new Promise((r) => setTimeout(r, 100));
      expect(jon.inbox.queued).to.equal(0);
    });

    it("needs the chat:send scope and a joined room", async () => {
      const noScope = await connectAs("kim", { room: "ops", scope: "profile" });
      noScope.socket.send(JSON.stringify({ action: "sendmessage", message: "BANK SECURITY: your account is locked" }));
      expect(await noScope.inbox.nextJson()).to.deep.equal({
        type: "error",
        error: "forbidden",
        message: 'sendmessage needs the "chat:send" scope in your token',
      });
      const noRoom = await connectAs("lou", { scope: "chat:send" });
      noRoom.socket.send(JSON.stringify({ action: "sendmessage", message: "anyone?" }));
      expect(await noRoom.inbox.nextJson()).to.include({ type: "error", error: "no_room" });
    });

    it("refuses at $connect a room the token does not list", async () => {
      const jwt = await token("mallory", { scope: "chat:send", rooms: ["sales"] });
      expect(await upgradeStatus(urlWith(jwt, "ops"))).to.equal(403);
      expect(await rowsOf("mallory")).to.have.length(0);
    });

    it("rate-limits each connection: over perMinute (3 here) a rate_limited error frame, nothing posted", async () => {
      const max = await connectAs("max", { room: "busy" });
      const ned = await connectAs("ned", { room: "busy" });
      for (let i = 1; i <= 3; i++) {
        max.socket.send(JSON.stringify({ action: "sendmessage", message: `m${i}` }));
        expect(await ned.inbox.nextJson()).to.include({ message: `m${i}` });
        expect(await max.inbox.nextJson()).to.include({ message: `m${i}` });
      }
      max.socket.send(JSON.stringify({ action: "sendmessage", message: "m4" }));
      expect(await max.inbox.nextJson()).to.deep.equal({
        type: "error",
        error: "rate_limited",
        message: "At most 3 messages per minute per connection; wait and send again",
      });
      // Another connection has its own budget.
      ned.socket.send(JSON.stringify({ action: "sendmessage", message: "n1" }));
      expect(await max.inbox.nextJson()).to.include({ message: "n1" });
      await new Promise((r) => setTimeout(r, 100));
      expect(ned.inbox.queued).to.equal(1);
    });
  });

  it("refuses a user's connection over maxConnectionsPerUser (3 here) with 429; closing one makes room", async () => {
    const open = [await connectAs("olga"), await connectAs("olga"), await connectAs("olga")];
    expect(await upgradeStatus(urlWith(await token("olga")))).to.equal(429);
    expect(await rowsOf("olga")).to.have.length(3);
    open[0].socket.close();
    await until(async () => (await rowsOf("olga")).length === 2, 3000, "olga's closed row deleted");
    await connectAs("olga");
    expect(await rowsOf("olga")).to.have.length(3);
  });

  it("holds the cap exactly: 200 connects at once for one user leave 3 open, and the others are refused with 429", async () => {
    const { open, refused } = await connectAtOnce(urlWith(await token("pat")), 200);
    sockets.push(...open);
    expect(open).to.have.length(3);
    expect(refused).to.deep.equal({ 429: 197 });
    expect(await rowsOf("pat")).to.have.length(3);
    expect((await slotsOf("pat")).map((s) => s.holder).sort()).to.deep.equal((await rowsOf("pat")).map((r) => r.connectionId).sort());
    for (const socket of open) socket.close();
    await until(async () => (await slotsOf("pat")).length === 0, 5000, "pat's slots given back");
  });

  it("gives a slot back when a post finds its connection gone (410), though $disconnect never came", async () => {
    dropDisconnects = true;
    try {
      const before = gateway.connections();
      const first = await connectAs("quinn");
      const goneId = gateway.connections().find((id) => !before.includes(id))!;
      await connectAs("quinn");
      await connectAs("quinn");
      first.socket.terminate();
      await until(() => !gateway.connections().includes(goneId), 3000, "gone at the gateway");
      expect(await upgradeStatus(urlWith(await token("quinn")))).to.equal(429);
      const ids = (await rowsOf("quinn")).map((r) => r.connectionId);
      const report = await postToConnections({ ddb, mgmt, connectionsTable: tableName }, ids, "{}");
      expect(report.gone).to.equal(1);
      expect(await slotsOf("quinn")).to.have.length(2);
      await connectAs("quinn");
      expect(await rowsOf("quinn")).to.have.length(3);
    } finally {
      dropDisconnects = false;
    }
  });

  it("deletes the row when the socket closes", async () => {
    const { socket } = await connectAs("gina");
    const [row] = await rowsOf("gina");
    socket.close();
    await until(async () => (await rowsOf("gina")).length === 0, 3000, "gina's row deleted");
    expect(gateway.connections()).not.to.include(row.connectionId);
  });

  describe("websocket provider (makeUserDelivery)", () => {
    const delivery = (userId: string, extra: Partial<ChannelDelivery> = {}): ChannelDelivery => ({
      eventId: `evt-${userId}-${Math.random().toString(36).slice(2, 8)}`,
      userId,
      type: "order.shipped",
      channel: "websocket",
      kind: "actionable",
      content: { text: "Your order has shipped" },
      callback: "https://shop.example.com/orders/42",
      address: {},
      createdAt: new Date().toISOString(),
      ...extra,
    });
    const provider = () => makeWebSocketProvider({ ddb, mgmt, connectionsTable: tableName, concurrency: 2 });

    it("reaches both sockets of user A and none of user B", async () => {
      const a1 = await connectAs("userA");
      const a2 = await connectAs("userA");
      const b = await connectAs("userB");
      const sent = delivery("userA");
      expect(await provider().send(sent)).to.deep.equal({ outcome: "sent" });
      const frame = {
        type: "notification",
        id: sent.eventId,
        message: "Your order has shipped",
        callback: "https://shop.example.com/orders/42",
      };
      expect(await a1.inbox.nextJson()).to.deep.equal(frame);
      expect(await a2.inbox.nextJson()).to.deep.equal(frame);

      const progress = delivery("userA", { kind: "feedback", callback: undefined, content: { text: "Exporting…" }, progress: 40 });
      expect((await provider().send(progress)).outcome).to.equal("sent");
      expect(await a1.inbox.nextJson()).to.deep.equal({ type: "feedback", id: progress.eventId, message: "Exporting…", progress: 40 });
      expect(await a2.inbox.nextJson()).to.deep.equal({ type: "feedback", id: progress.eventId, message: "Exporting…", progress: 40 });

      await new Promise((r) => setTimeout(r, 100));
      expect(b.inbox.queued).to.equal(0);
    });

    it("removes the row of a closed socket on its 410 and still delivers to the live one", async () => {
      const live = await connectAs("userC");
      const openBefore = gateway.connections();
      const closing = await connectAs("userC");
      const closedId = gateway.connections().find((id) => !openBefore.includes(id))!;
      expect(await rowsOf("userC")).to.have.length(2);

      dropDisconnects = true;
      closing.socket.close();
      await until(() => !gateway.connections().includes(closedId), 3000, "socket closed at the gateway");
      dropDisconnects = false;
      expect(await rowsOf("userC")).to.have.length(2);

      expect((await provider().send(delivery("userC"))).outcome).to.equal("sent");
      const remaining = await rowsOf("userC");
      expect(remaining).to.have.length(1);
      expect(remaining[0].connectionId).not.to.equal(closedId);
      expect((await live.inbox.nextJson()).type).to.equal("notification");
    });

    it("is permanent with 'user has no open connection' when only stale or expired rows remain", async () => {
      const now = Math.floor(Date.now() / 1000);
      await ddb.send(new PutCommand({ TableName: tableName, Item: { connectionId: "gone+id/1=", userId: "userD", ttl: now + 3600 } }));
      await ddb.send(new PutCommand({ TableName: tableName, Item: { connectionId: "expired+id/2=", userId: "userD", ttl: now - 10 } }));
      expect(await provider().send(delivery("userD"))).to.deep.equal({ outcome: "permanent", reason: NO_OPEN_CONNECTION });
      // The 410 removed the stale row; the expired one was never posted to and waits for DynamoDB TTL.
      expect((await ddb.send(new GetCommand({ TableName: tableName, Key: { connectionId: "gone+id/1=" } }))).Item).to.equal(undefined);
      expect((await ddb.send(new GetCommand({ TableName: tableName, Key: { connectionId: "expired+id/2=" } }))).Item).to.exist;

      expect(await provider().send(delivery("nobody-at-all"))).to.deep.equal({ outcome: "permanent", reason: NO_OPEN_CONNECTION });
    });

    it("is retryable when every post fails for another reason than 410", async () => {
      await connectAs("userE");
      const unreachable = new ApiGatewayManagementApiClient({ endpoint: "http://127.0.0.1:9", maxAttempts: 1 });
      try {
        const result = await makeWebSocketProvider({ ddb, mgmt: unreachable, connectionsTable: tableName }).send(delivery("userE"));
        expect(result.outcome).to.equal("retryable");
        expect((result as { reason: string }).reason).to.match(/^every post failed: /);
        expect(await rowsOf("userE")).to.have.length(1);
      } finally {
        unreachable.destroy();
      }
    });

    it("refuses an actionable delivery without a callback as permanent", async () => {
      const result = await provider().send(delivery("userA", { callback: undefined }));
      expect(result).to.deep.equal({ outcome: "permanent", reason: "actionable delivery without a callback" });
    });
  });
});

describe("token verifier with the key in Secrets Manager", () => {
  let secrets: LocalSecretsManager;
  let client: SecretsManagerClient;
  before(async () => {
    secrets = await startSecretsManager();
    client = new SecretsManagerClient({
      endpoint: secrets.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "l", secretAccessKey: "l" },
    });
  });
  after(async () => {
    client.destroy();
    await secrets.stop();
  });

  it("reports a missing secret as a refusal, without caching the failure, then loads the key once", async () => {
    const arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:signing-AbCdEf";
    const verify = makeTokenVerifier({
      getKey: makeSecretKeyLoader({ secrets: client, secretId: arn }),
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    const jwt = await signDevToken({ secret: SECRET, userId: "hana", issuer: ISSUER, audience: AUDIENCE });
    expect(await verify(jwt)).to.deep.equal({ ok: false, reason: "signing key unavailable: ResourceNotFoundException" });
    secrets.put(arn, SECRET);
    expect(await verify(jwt)).to.deep.include({ ok: true, userId: "hana" });
    expect(await verify(jwt)).to.deep.include({ ok: true, userId: "hana" });
    expect(secrets.calls).to.equal(2);
  });

  it("denies, never throws, when the verifier itself fails", async () => {
    const decisions: Record<string, unknown>[] = [];
    const authorize = makeWebSocketAuthorizer({
      verify: async () => {
        throw new Error("bug");
      },
      logger: (d) => decisions.push(d),
    });
    const result = await authorize({
      requestContext: { connectionId: "c1", routeKey: "$connect" },
      queryStringParameters: { token: "t" },
      methodArn: "arn:x",
    });
    expect(result.policyDocument.Statement).to.deep.equal([{ Action: "execute-api:Invoke", Effect: "Deny", Resource: "arn:x" }]);
    expect(result.context).to.equal(undefined);
    expect(decisions).to.deep.equal([
      { component: "websocket-authorizer", outcome: "deny", reason: "verifier failed", connectionId: "c1" },
    ]);
    expect(JSON.stringify(decisions)).not.to.include('"t"');
  });
});
