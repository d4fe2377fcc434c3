import * as http from "node:http";
import { expect } from "chai";
import WebSocket from "ws";
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";
import { type AuthResult, startWebSocketGateway, type WebSocketGateway } from "../local/gateway";
import type { WebSocketEvent } from "../runtime/contracts";
import { frames, openSocket, until } from "./helpers/sockets";

const allow = (userId: string, methodArn = "*"): AuthResult => ({
  principalId: userId,
  policyDocument: { Version: "2012-10-17", Statement: [{ Action: "execute-api:Invoke", Effect: "Allow", Resource: methodArn }] },
  context: { userId },
});

describe("local WebSocket gateway", () => {
  let gateway: WebSocketGateway;
  let mgmt: ApiGatewayManagementApiClient;
  const events: WebSocketEvent[] = [];
  const sockets: WebSocket[] = [];
  let authorizerCalls = 0;

  before(async () => {
    gateway = await startWebSocketGateway({
      stage: "test",
      identitySources: ["route.request.querystring.token"],
      async authorize(event) {
        authorizerCalls++;
        const token = event.queryStringParameters?.token;
        if (token === "boom") throw new Error("Unauthorized");
        if (token?.startsWith("user-")) return allow(token.slice(5), event.methodArn);
        return {
          ...allow("nobody"),
          policyDocument: {
            Version: "2012-10-17",
            Statement: [{ Action: "execute-api:Invoke", Effect: "Deny", Resource: event.methodArn! }],
          },
        };
      },
      routes: {
        async $connect(event) {
          events.push(event);
          if (event.queryStringParameters?.token === "user-banned") return { statusCode: 401, body: "banned" };
        },
        async $disconnect(event) {
          events.push(event);
        },
        async $default(event) {
          events.push(event);
        },
        async echo(event) {
          events.push(event);
        },
        async crash() {
          throw new Error("handler bug");
        },
      },
    });
    mgmt = new ApiGatewayManagementApiClient({
      endpoint: gateway.managementEndpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
  });
  after(async () => {
    for (const ws of sockets) ws.terminate();
    mgmt.destroy();
    await gateway.stop();
  });

  const connect = async (token: string) => {
    const ws = await openSocket(`${gateway.url}/?token=${encodeURIComponent(token)}&lang=en`);
    sockets.push(ws);
    return ws;
  };
  const lastEvent = (routeKey: string) => [...events].reverse().find((e) => e.requestContext.routeKey === routeKey)!;

  it("builds a $connect event like API Gateway and passes the authorizer context on", async () => {
    await connect("user-alice");
    const event = lastEvent("$connect");
    expect(event.queryStringParameters).to.deep.equal({ token: "user-alice", lang: "en" });
    expect(event.headers).to.have.property("sec-websocket-key");
    expect(event.requestContext).to.include({ routeKey: "$connect", stage: "test", domainName: gateway.url.slice("ws://".length) });
    expect(event.requestContext.connectionId).to.match(/^[A-Za-z0-9+/]{15}=$/);
    expect(event.requestContext.identity?.sourceIp).to.equal("127.0.0.1");
    expect(event.requestContext.authorizer).to.deep.equal({ userId: "alice", principalId: "alice" });
    expect(gateway.connections()).to.include(event.requestContext.connectionId);
  });

  it("refuses the upgrade: 403 on a Deny policy, 401 when the authorizer throws or $connect says 401", async () => {
    const statusOf = (token: string) =>
      connect(token).then(
        () => 200,
        (e) => e.status,
      );
    expect(await statusOf("forged")).to.equal(403);
    expect(await statusOf("boom")).to.equal(401);
    expect(await statusOf("user-banned")).to.equal(401);
  });

  it("answers 401 without calling the authorizer when the identity source is missing", async () => {
    const before = authorizerCalls;
    const status = await openSocket(gateway.url).then(
      () => 200,
      (e) => e.status,
    );
    expect(status).to.equal(401);
    expect(authorizerCalls).to.equal(before);
  });

  it("routes frames by body.action, and non-JSON, unknown actions and $-actions to $default", async () => {
    const ws = await connect("user-bob");
    const connectionId = lastEvent("$connect").requestContext.connectionId;
    const sent = [
      '{"action":"echo","x":1}',
      "plain text",
      '{"action":"nope"}',
      '{"action":"$disconnect"}',
      "[1,2]",
      '{"action":"__proto__"}',
      '{"action":"constructor"}',
      '{"action":"hasOwnProperty"}',
    ];
    const seen = events.length;
    for (const body of sent) ws.send(body);
    await until(() => events.length >= seen + sent.length);
    const routed = events.slice(seen).map((e) => [e.requestContext.routeKey, e.body]);
    expect(routed).to.have.deep.members([
      ["echo", sent[0]],
      ["$default", sent[1]],
      ["$default", sent[2]],
      ["$default", sent[3]],
      ["$default", sent[4]],
      // Object.prototype's names are no routes.
      ["$default", sent[5]],
      ["$default", sent[6]],
      ["$default", sent[7]],
    ]);
    for (const e of events.slice(seen)) {
      expect(e.requestContext.connectionId).to.equal(connectionId);
      expect(e.requestContext.authorizer).to.include({ userId: "bob" });
    }
  });

  it("tells the client 'Internal server error' when a route handler throws, and keeps the socket", async () => {
    const ws = await connect("user-carol");
    const inbox = frames(ws);
    ws.send('{"action":"crash"}');
    expect(JSON.parse(await inbox.next())).to.include({ message: "Internal server error" });
    expect(ws.readyState).to.equal(WebSocket.OPEN);
  });

  it("posts to, describes and deletes connections through the SDK, with URL-encoded ids", async () => {
    // Keep connecting until an id holds '/' or '+' as well as '=': those break unencoded paths.
    let ws: WebSocket;
    let connectionId: string;
    do {
      ws = await connect("user-dave");
      connectionId = lastEvent("$connect").requestContext.connectionId;
    } while (!/[+/]/.test(connectionId));
    const inbox = frames(ws);

    await mgmt.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: JSON.stringify({ hello: "dave" }) }));
    expect(JSON.parse(await inbox.next())).to.deep.equal({ hello: "dave" });

    const info = await mgmt.send(new GetConnectionCommand({ ConnectionId: connectionId }));
    expect(info.Identity?.SourceIp).to.equal("127.0.0.1");
    expect(info.ConnectedAt).to.be.instanceOf(Date);

    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    await mgmt.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    expect(await closed).to.equal(1000);
    await until(() => events.some((e) => e.requestContext.routeKey === "$disconnect" && e.requestContext.connectionId === connectionId));
    expect(gateway.connections()).not.to.include(connectionId);
  });

  it("answers 410 GoneException for unknown and dropped connections", async () => {
    const gone = (connectionId: string) =>
      mgmt.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: "x" })).then(
        () => "delivered",
        (e) => `${e.name} ${e.$metadata?.httpStatusCode}`,
      );
    expect(await gone("never+existed/=")).to.equal("GoneException 410");

    await connect("user-erin");
    const connectionId = lastEvent("$connect").requestContext.connectionId;
    gateway.dropConnection(connectionId);
    await until(() => events.some((e) => e.requestContext.routeKey === "$disconnect" && e.requestContext.connectionId === connectionId));
    expect(await gone(connectionId)).to.equal("GoneException 410");
  });

  it("bounds the management endpoint's body at 128 KB: a larger one is refused (413) before it is buffered, whoever it is for", async () => {
    const url = new URL(`${gateway.managementEndpoint}/@connections/${encodeURIComponent("no-such-connection")}`);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: "POST" }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      const chunk = Buffer.alloc(64 * 1024, 120);
      for (let i = 0; i < 32; i++) req.write(chunk); // 2 MB
      req.end();
    });
    expect(status).to.equal(413);
  });

  it("closes a socket with 1009 when a frame is over 128 KB, and refuses such posts", async () => {
    const ws = await connect("user-frank");
    const connectionId = lastEvent("$connect").requestContext.connectionId;
    const tooBig = await mgmt.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: "x".repeat(128 * 1024 + 1) })).then(
      () => 200,
      (e) => e.$metadata?.httpStatusCode,
    );
    expect(tooBig).to.equal(413);

    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    ws.send("x".repeat(128 * 1024 + 1));
    expect(await closed).to.equal(1009);
  });
});
