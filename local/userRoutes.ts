/**
 * The user's side on the local API port: the end-user API (`/me/*`, `/t/<token>`, runtime/userApi.ts)
 * and the producer's user-data routes (`/users/*`, runtime/userData.ts), built from the same runtime
 * factories the stack's Lambdas run. Requests are handed over as API Gateway HTTP API (payload 2.0)
 * events, so the handlers see here what they see in AWS.
 */
import type * as http from "node:http";
import type { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import { DeleteConnectionCommand } from "@aws-sdk/client-apigatewaymanagementapi";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { TokenVerifier } from "../runtime/authorizer";
import type { TidingsConfig } from "../runtime/config";
import { makeUserDelivery } from "../runtime/deliver";
import { makeDeviceRegistry } from "../runtime/devices";
import { makeFeed } from "../runtime/feed";
import { readBoundedBody } from "./httpBody";
import { type HttpAnswer, type HttpRequestEvent, MAX_USER_BODY_BYTES } from "../runtime/http";
import type { DecisionLogger } from "../runtime/log";
import type { NotificationLog } from "../runtime/notificationLog";
import { makeUserApi } from "../runtime/userApi";
import { makeUserDataApi } from "../runtime/userData";

export interface LocalUserRoutesOptions {
  ddb: DynamoDBDocumentClient;
  tables: { contacts: string; settings: string; connections: string; feed: string };
  config: TidingsConfig;
  enabledChannels: string[];
  log: NotificationLog;
  /** End users' tokens (the WebSocket's). */
  verify: TokenVerifier;
  getLinkKey: () => Promise<Uint8Array>;
  management: () => ApiGatewayManagementApiClient;
  webhookOrigins: string[];
  logger: DecisionLogger;
}

/** `(req, res, url) → handled?`: answers the routes it owns, leaves every other request alone. */
export function makeLocalUserRoutes(options: LocalUserRoutesOptions) {
  const { ddb, tables, config } = options;
  const feed = makeFeed({ ddb, table: tables.feed, ttlDays: config.feed.ttlDays });
  const userApi = makeUserApi({
    verify: options.verify,
    feed,
    log: options.log,
    ddb,
    settingsTable: tables.settings,
    devices: makeDeviceRegistry({ ddb, table: tables.contacts, maxPerUser: config.devices.maxPerUser }),
    getLinkKey: options.getLinkKey,
    enabledChannels: options.enabledChannels,
    types: config.notificationTypes,
    notifyUser: (userId, frame) =>
      makeUserDelivery({ ddb, mgmt: options.management(), connectionsTable: tables.connections })(userId, frame),
    logger: options.logger,
  });
  const userData = makeUserDataApi({
    ddb,
    tables,
    feed,
    log: options.log,
    webhookOrigins: options.webhookOrigins,
    closeConnection: async (connectionId) => {
      await options.management().send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    },
    logger: options.logger,
  });

  /** `authorizeProducer`: the producer API's own check (as `POST /notifications`): null when allowed, else the answer. */
  return async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    authorizeProducer: (req: http.IncomingMessage) => Promise<{ status: number; body: unknown } | null>,
  ): Promise<boolean> => {
    const first = url.pathname.split("/")[1];
    if (first !== "me" && first !== "t" && first !== "users") return false;
    if (first === "users") {
      const denied = await authorizeProducer(req);
      if (denied) {
        res.writeHead(denied.status, { "content-type": "application/json" });
        res.end(JSON.stringify(denied.body));
        return true;
      }
    }
    const { event, overflow } = await toEvent(req, url);
    const answer = await (first === "users" ? userData(event) : userApi(event));
    // The rest of an oversized body was not read: close the connection rather than read it as the next request.
    send(res, overflow ? { ...answer, headers: { ...answer.headers, connection: "close" } } : answer);
    return true;
  };
}

/** The request as the end-user API's Lambda event; the body read as far as the limit allows. */
async function toEvent(req: http.IncomingMessage, url: URL): Promise<{ event: HttpRequestEvent; overflow: boolean }> {
  const { body, overflow } = await readBoundedBody(req, MAX_USER_BODY_BYTES);
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : v]));
  const event: HttpRequestEvent = {
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ""),
    headers,
    body,
    isBase64Encoded: false,
    requestContext: { http: { method: req.method ?? "GET", path: url.pathname } },
  };
  return { event, overflow };
}

function send(res: http.ServerResponse, answer: HttpAnswer) {
  res.writeHead(answer.statusCode, answer.headers ?? {});
  if (answer.body === undefined) return res.end();
  res.end(answer.isBase64Encoded ? Buffer.from(answer.body, "base64") : answer.body);
}
