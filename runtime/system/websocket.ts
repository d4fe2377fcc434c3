/**
 * The WebSocket API's functions: the `$connect` authorizer, `$connect`, `$disconnect`, `$default`, and
 * the optional `sendmessage` room chat.
 */
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { makeSecretKeyLoader, makeTokenVerifier, makeWebSocketAuthorizer, type AuthResult } from "../authorizer";
import { makeChatHandler } from "../chat";
import { makeConnectGate } from "../connectGate";
import type { HttpResult, WebSocketEvent } from "../contracts";
import { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import { resolveManagementEndpoint } from "../deliver";
import { makeConnectHandler, makeDefaultHandler, makeDisconnectHandler } from "../websocket";
import { type Env, envOf, type FunctionSpec, withKey } from "./spec";

/** What the WebSocket API's functions are built from (`tidings:auth`, `tidings:websocket`, `tidings:connectionTtlHours`). */
export interface WebSocketSettings {
  auth: TokenSettings;
  /** Open connections one user may hold. */
  maxConnectionsPerUser: number;
  /** Room chat (`sendmessage`): the route and its function exist only when enabled. */
  chat: { enabled: boolean; scope: string; perMinute: number };
  connectionTtlHours: number;
}

/** How tokens are checked (`tidings:auth`). */
export interface TokenSettings {
  issuer: string;
  audience: string;
  jwksUrl?: string;
  keyCacheSeconds: number;
  maxTokenAgeSeconds?: number;
}

/** The token-signing key, read from Secrets Manager and kept `keyCacheSeconds` (rotation). */
export function signingKeyFrom(env: Env, auth: Pick<TokenSettings, "keyCacheSeconds">) {
  return makeSecretKeyLoader({
    secrets: new SecretsManagerClient({}),
    secretId: envOf(env, "tokenSecret"),
    ttlSeconds: auth.keyCacheSeconds,
  });
}

/** The user-token verifier of every function that reads a user's token. */
export function tokenVerifierFrom(getKey: () => Promise<Uint8Array>, auth: TokenSettings) {
  return makeTokenVerifier({
    getKey,
    issuer: auth.issuer,
    audience: auth.audience,
    jwksUrl: auth.jwksUrl,
    maxTokenAgeSeconds: auth.maxTokenAgeSeconds,
  });
}

function documentClient() {
  return DynamoDBDocumentClient.from(new DynamoDBClient({}));
}

export function webSocketFunctions(settings: WebSocketSettings): {
  authorizer: FunctionSpec<WebSocketEvent, AuthResult>;
  routes: FunctionSpec<WebSocketEvent, HttpResult>[];
} {
  const { auth, maxConnectionsPerUser, chat } = settings;
  const ttlSeconds = settings.connectionTtlHours * 3600;
  const knownActions = chat.enabled ? ["sendmessage"] : [];
  const authorizer: FunctionSpec<WebSocketEvent, AuthResult> = {
    name: "authorizer",
    settings,
    description: "Tidings: checks the token of a WebSocket $connect",
    triggers: [{ kind: "websocket-authorizer", identitySources: ["route.request.querystring.token"] }],
    uses: withKey([{ resource: "tokenSecret", actions: ["secretsmanager:GetSecretValue"] }]),
    create: (env, hooks) => makeWebSocketAuthorizer({ verify: tokenVerifierFrom(signingKeyFrom(env, auth), auth), logger: hooks?.logger }),
  };
  const connect: FunctionSpec<WebSocketEvent, HttpResult> = {
    name: "connect",
    settings,
    description: "Tidings: stores a new WebSocket connection",
    triggers: [{ kind: "websocket", route: "$connect" }],
    uses: withKey([
      // The user's slots in one consistent BatchGetItem, then one conditional put of a slot and one of the row.
      { resource: "connections", actions: ["dynamodb:BatchGetItem", "dynamodb:PutItem"] },
    ]),
    create: (env, hooks) => {
      const ddb = documentClient();
      const connectionsTable = envOf(env, "connections");
      const gate = makeConnectGate({ ddb, connectionsTable, maxConnectionsPerUser });
      return makeConnectHandler({ ddb, connectionsTable, ttlSeconds, gate, logger: hooks?.logger });
    },
  };
  const disconnect: FunctionSpec<WebSocketEvent, HttpResult> = {
    name: "disconnect",
    description: "Tidings: removes a closed WebSocket connection",
    triggers: [{ kind: "websocket", route: "$disconnect" }],
    uses: withKey([{ resource: "connections", actions: ["dynamodb:DeleteItem"] }]),
    create: (env, hooks) =>
      makeDisconnectHandler({ ddb: documentClient(), connectionsTable: envOf(env, "connections"), logger: hooks?.logger }),
  };
  const manage = { resource: "websocket", actions: ["execute-api:ManageConnections"], part: "POST/@connections/*" } as const;
  const fallback: FunctionSpec<WebSocketEvent, HttpResult> = {
    name: "default",
    description: "Tidings: answers WebSocket frames no route matched",
    triggers: [{ kind: "websocket", route: "$default" }],
    uses: [manage],
    create: (env, hooks) => makeDefaultHandler({ mgmt: managementClient(envOf(env, "websocket")), knownActions, logger: hooks?.logger }),
  };
  const routes = [connect, disconnect, fallback];
  if (chat.enabled) {
    routes.push({
      name: "sendmessage",
      description: "Tidings: posts a chat message to the connections of the sender's room",
      triggers: [{ kind: "websocket", route: "sendmessage" }],
      uses: withKey([
        { resource: "connections", actions: ["dynamodb:UpdateItem", "dynamodb:DeleteItem"] },
        { resource: "connections", actions: ["dynamodb:Query"], part: "index/byRoom" },
        manage,
      ]),
      // It posts to a whole room; the others touch one row.
      timeoutSeconds: 29,
      create: (env, hooks) =>
        makeChatHandler({
          ddb: documentClient(),
          mgmt: managementClient(envOf(env, "websocket")),
          connectionsTable: envOf(env, "connections"),
          scope: chat.scope,
          perMinute: chat.perMinute,
          logger: hooks?.logger,
        }),
    });
  }
  return { authorizer, routes };
}

/** The management client of the API's stage (an endpoint override wins: tests). */
export function managementClient(endpoint: string): ApiGatewayManagementApiClient {
  // cacheMiddleware: the middleware stack is resolved once per command class, not on every post.
  return new ApiGatewayManagementApiClient({ endpoint: resolveManagementEndpoint({ captured: endpoint }), cacheMiddleware: true });
}
