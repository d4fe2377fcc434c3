/**
 * The "API Gateway side" of the fan-out benchmark, in its own process (forked by fanout.ts): either the
 * local gateway with its clients, or a plain `ws` server with its clients for the raw-broadcast limit.
 * In AWS the gateway and the delivering Lambda never share a CPU; on a 2-core machine this split keeps
 * the posting code and the sockets from queueing behind each other on one event loop.
 *
 * Talks to its parent over the IPC channel only; every server binds 127.0.0.1 on a free port.
 */
import { WebSocketServer } from "ws";
import type { AddressInfo } from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { startWebSocketGateway, type WebSocketGateway } from "../local/gateway";
import { makeTokenVerifier, makeWebSocketAuthorizer } from "../runtime/authorizer";
import { makeConnectHandler } from "../runtime/websocket";
import { type ClientPool, openClients } from "./clients";
import { epochNow, type HostCommand, type HostMessage } from "./fanoutProtocol";

const quiet = () => {};

let pool: ClientPool | undefined;
let gateway: WebSocketGateway | undefined;
let plain: WebSocketServer | undefined;
let ddb: DynamoDBDocumentClient | undefined;

function send(message: HostMessage) {
  process.send!(message);
}

async function handle(command: HostCommand) {
  switch (command.cmd) {
    case "gateway": {
      ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
      const signingKey = Buffer.from(command.signingKeyHex, "hex");
      gateway = await startWebSocketGateway({
        identitySources: ["route.request.querystring.token"],
        authorize: makeWebSocketAuthorizer({
          verify: makeTokenVerifier({ getKey: async () => signingKey, ...command.auth }),
          logger: quiet,
        }),
        // No $disconnect route: the rows go with dynalite at the end, and thousands of deletes would only
        // lengthen the run without being measured.
        routes: { $connect: makeConnectHandler({ ddb, connectionsTable: command.table, ttlSeconds: 3600, logger: quiet }) },
      });
      pool = await openClients(`${gateway.url}/?token=${command.token}`, command.connections);
      return send({
        event: "ready",
        managementEndpoint: gateway.managementEndpoint,
        openMs: pool.openMs,
        connectionIds: gateway.connections(),
      });
    }
    case "plain": {
      plain = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
      await new Promise<void>((resolve) => plain!.once("listening", () => resolve()));
      pool = await openClients(`ws://127.0.0.1:${(plain.address() as AddressInfo).port}`, command.connections);
      if (plain.clients.size !== command.connections)
        throw new Error(`the plain server holds ${plain.clients.size} sockets, expected ${command.connections}`);
      return send({ event: "ready", openMs: pool.openMs });
    }
    case "expect": {
      const runId = command.runId;
      pool!.counter.expect(runId).then(() => send({ event: "received", runId, lastAt: epochNow() }));
      return send({ event: "expecting", runId });
    }
    case "broadcast": {
      if (!plain) throw new Error("broadcast needs the plain server");
      const startedAt = epochNow();
      const data = Buffer.from(command.frame);
      for (const socket of plain.clients) socket.send(data, { binary: false });
      return send({ event: "broadcasting", startedAt });
    }
    case "latency": {
      if (!gateway) throw new Error("latency needs the gateway");
      gateway.setManagementLatency(command.ms);
      return send({ event: "latency", ms: command.ms });
    }
    case "check": {
      const check = pool!.counter.check(command.runId);
      return send({ event: "checked", runId: command.runId, ...check, strays: pool!.counter.strays });
    }
    case "stop": {
      await pool?.close();
      await gateway?.stop();
      if (plain) await new Promise<void>((resolve) => plain!.close(() => resolve()));
      ddb?.destroy();
      process.exit(0);
    }
  }
}

process.on("message", (command: HostCommand) => {
  handle(command).catch((error) => send({ event: "failed", message: error instanceof Error ? error.message : String(error) }));
});
process.on("disconnect", () => process.exit(0));
