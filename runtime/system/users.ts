/**
 * The functions of the user's side: the producer's user-data routes (`/users/{userId}/contact`,
 * `DELETE /users/{userId}`) and the end-user API (`/me/*`, `GET /t/{token}`).
 */
import { DeleteConnectionCommand } from "@aws-sdk/client-apigatewaymanagementapi";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { NotificationTypeConfig } from "../config";
import { makeUserDelivery } from "../deliver";
import { makeDeviceRegistry } from "../devices";
import { makeEmailFeedbackHandler, type SnsEvent } from "../emailFeedback";
import { makeFeed } from "../feed";
import { type HttpAnswer, type HttpRequestEvent, MAX_USER_BODY_BYTES } from "../http";
import { makeNotificationLog } from "../notificationLog";
import { makeSelfContact } from "../selfContact";
import { makeTopics } from "../topics";
import { makeUserApi } from "../userApi";
import { makeUserDataApi } from "../userData";
import type { AddressSchema } from "../addresses";
import type { ProducerScopeNames } from "../producers";
import { guardProducerRoutes } from "./guard";
import { envOf, type FunctionSpec, producerRoute, type RouteKey, type Trigger, type Use, withKey } from "./spec";
import { managementClient, signingKeyFrom, type TokenSettings, tokenVerifierFrom } from "./websocket";

const documentClient = () => DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });

/** The producer's user-data routes and the scope each needs. */
export const USER_DATA_ROUTES: { route: RouteKey; scope: "contactsWrite" | "contactsRead" | "erase" | "topicsWrite" }[] = [
  { route: "PUT /users/{userId}/contact", scope: "contactsWrite" },
  { route: "GET /users/{userId}/contact", scope: "contactsRead" },
  { route: "DELETE /users/{userId}", scope: "erase" },
];

/** The topic subscription routes (runtime/topics.ts), on the same function when there is a topics table. */
export const TOPIC_ROUTES: typeof USER_DATA_ROUTES = [
  { route: "PUT /topics/{topic}/subscribers", scope: "topicsWrite" },
  { route: "GET /topics/{topic}/subscribers", scope: "topicsWrite" },
  { route: "DELETE /topics/{topic}/subscribers/{userId}", scope: "topicsWrite" },
];

/** The end-user API's routes: every one but the tracking and unsubscribe links needs the user's own token. */
export const USER_API_ROUTES: RouteKey[] = [
  "GET /me/notifications",
  "GET /me/notifications/count",
  "POST /me/notifications/read",
  "POST /me/notifications/archive",
  "GET /me/preferences",
  "PUT /me/preferences",
  "POST /me/devices",
  "DELETE /me/devices/{token}",
  // Every other /me path reaches the function, which names what is wrong (404 naming the path, 405 the method).
  "ANY /me/{proxy+}",
  "GET /me/contact",
  "PUT /me/contact",
  "POST /me/contact/verify",
  "GET /t/{token}",
  "GET /u/{token}",
  "POST /u/{token}",
  "GET /v/{token}",
  "POST /v/{token}",
];

export interface UserDataSettings {
  /**
   * Erasing a user also deletes their notification-log items (through the log's userEventIds index), so
   * a delivery still queued for them is refused. Off: the log keeps them until its TTL.
   */
  eraseLog: boolean;
  /** The address schema of each channel keeping per-user addresses: the contacts routes check and mask by it. */
  addresses?: Record<string, AddressSchema>;
  /** Channels with per-user limits: erasing a user deletes their politeness counters on each. */
  politenessChannels: string[];
  /** The scope each producer route needs (`tidings:auth.scopes`), checked again by the function. */
  scopes: ProducerScopeNames;
  /** Topic subscriptions: the topic routes, and erasing a user's subscriptions with the user. */
  topics: boolean;
}

export function userDataFunction(settings: UserDataSettings): FunctionSpec<HttpRequestEvent, HttpAnswer> {
  const eraseLog = settings.eraseLog;
  const logOf = eraseLog ? (table: string) => makeNotificationLog({ ddb: documentClient(), table }) : undefined;
  const uses: Use[] = [
    { resource: "contacts", actions: ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"] },
    { resource: "settings", actions: ["dynamodb:DeleteItem"] },
    { resource: "feed", actions: ["dynamodb:Query", "dynamodb:DeleteItem"] },
    { resource: "connections", actions: ["dynamodb:Query"], part: "index/byUser" },
    { resource: "connections", actions: ["dynamodb:DeleteItem"] },
    { resource: "websocket", actions: ["execute-api:ManageConnections"], part: "DELETE/@connections/*" },
  ];
  if (settings.politenessChannels.length) {
    uses.push({ resource: "politeness", actions: ["dynamodb:Query", "dynamodb:BatchWriteItem"] });
  }
  if (eraseLog) {
    uses.push(
      { resource: "log", actions: ["dynamodb:Query"], part: "index/userEventIds" },
      { resource: "log", actions: ["dynamodb:BatchWriteItem"] },
    );
  }
  if (settings.topics) {
    uses.push(
      { resource: "topics", actions: ["dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem"] },
      { resource: "topics", actions: ["dynamodb:Query"], part: "index/byUser" },
    );
  }
  return guardProducerRoutes<HttpRequestEvent, HttpAnswer>(
    {
      name: "user-data",
      settings,
      description: "Tidings producer API: PUT/GET /users/{userId}/contact, DELETE /users/{userId}, /topics/{topic}/subscribers",
      triggers: [...USER_DATA_ROUTES, ...(settings.topics ? TOPIC_ROUTES : [])].map((entry) => producerRoute(entry, MAX_USER_BODY_BYTES)),
      uses: withKey(uses),
      create: (env, hooks) => {
        const ddb = documentClient();
        const mgmt = managementClient(envOf(env, "websocket"));
        return makeUserDataApi({
          ddb,
          tables: { contacts: envOf(env, "contacts"), settings: envOf(env, "settings"), connections: envOf(env, "connections") },
          feed: makeFeed({ ddb, table: envOf(env, "feed") }),
          log: logOf?.(envOf(env, "log")),
          topics: settings.topics ? makeTopics({ ddb, table: envOf(env, "topics") }) : undefined,
          politeness: settings.politenessChannels.length
            ? { table: envOf(env, "politeness"), channels: settings.politenessChannels }
            : undefined,
          webhookOrigins: hooks?.webhookOrigins,
          addresses: settings.addresses,
          closeConnection: async (connectionId) => {
            await mgmt.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
          },
          logger: hooks?.logger,
        });
      },
    },
    settings.scopes,
  );
}

export interface UserApiSettings {
  auth: TokenSettings;
  enabledChannels: string[];
  types: Record<string, NotificationTypeConfig>;
  /** `tidings:devices.maxPerUser` */
  maxDevicesPerUser: number;
  /**
   * Self-service contact details (`/me/contact`): the codes go out on the bus like any delivery, so the
   * function puts events and writes their log rows. Off: those routes answer 404.
   */
  selfService: boolean;
}

export function userApiFunction(settings: UserApiSettings): FunctionSpec<HttpRequestEvent, HttpAnswer> {
  const { auth, enabledChannels, types, maxDevicesPerUser, selfService } = settings;
  return {
    name: "user-api",
    settings,
    description: "Tidings end-user API: /me/notifications, preferences, devices, /t/{token}, /u/{token}",
    triggers: USER_API_ROUTES.map(
      (route): Trigger => ({
        kind: "http",
        api: "user",
        route,
        // A tracking, unsubscribe or confirmation link carries its own proof (a sealed token).
        auth: /^(GET|POST) \/[tuv]\//.test(route) ? { kind: "public" } : { kind: "user" },
        maxBodyBytes: MAX_USER_BODY_BYTES,
      }),
    ),
    uses: withKey([
      { resource: "feed", actions: ["dynamodb:GetItem", "dynamodb:UpdateItem"] },
      { resource: "feed", actions: ["dynamodb:Query"], part: "index/byTime" },
      { resource: "feed", actions: ["dynamodb:Query"], part: "index/unread" },
      { resource: "feed", actions: ["dynamodb:Query"], part: "index/archived" },
      { resource: "contacts", actions: ["dynamodb:GetItem", "dynamodb:UpdateItem"] },
      { resource: "settings", actions: ["dynamodb:GetItem", "dynamodb:PutItem"] },
      // Reading records `opened`, a tracking link `clicked` (UpdateItem); a link reads its notification first
      // (GetItem); a verification code is a notification of its own (PutItem).
      { resource: "log", actions: ["dynamodb:GetItem", "dynamodb:UpdateItem", ...(selfService ? ["dynamodb:PutItem"] : [])] },
      { resource: "connections", actions: ["dynamodb:Query"], part: "index/byUser" },
      { resource: "connections", actions: ["dynamodb:DeleteItem"] },
      { resource: "websocket", actions: ["execute-api:ManageConnections"], part: "POST/@connections/*" },
      { resource: "tokenSecret", actions: ["secretsmanager:GetSecretValue"] },
      ...(selfService ? [{ resource: "bus", actions: ["events:PutEvents"] } as const] : []),
    ]),
    values: selfService ? ["linkBaseUrl"] : [],
    create: (env, hooks) => {
      const ddb = documentClient();
      const mgmt = managementClient(envOf(env, "websocket"));
      const connectionsTable = envOf(env, "connections");
      // One key for user tokens and tracking links: one GetSecretValue per cold start.
      const getKey = signingKeyFrom(env, auth);
      const log = makeNotificationLog({ ddb, table: envOf(env, "log"), metrics: hooks?.metrics });
      return makeUserApi({
        verify: tokenVerifierFrom(getKey, auth),
        feed: makeFeed({ ddb, table: envOf(env, "feed") }),
        log,
        selfContact: selfService
          ? makeSelfContact({
              ddb,
              contactsTable: envOf(env, "contacts"),
              log,
              events: new EventBridgeClient({}),
              busName: envOf(env, "bus"),
              enabledChannels,
              getSecret: getKey,
              userApiUrl: () => envOf(env, "linkBaseUrl"),
            })
          : undefined,
        ddb,
        settingsTable: envOf(env, "settings"),
        contactsTable: envOf(env, "contacts"),
        devices: makeDeviceRegistry({ ddb, table: envOf(env, "contacts"), maxPerUser: maxDevicesPerUser }),
        getLinkKey: getKey,
        enabledChannels,
        types,
        notifyUser: (userId, frame) => makeUserDelivery({ ddb, mgmt, connectionsTable, logger: hooks?.logger })(userId, frame),
        logger: hooks?.logger,
      });
    },
  };
}

/**
 * SES bounces and complaints (runtime/emailFeedback.ts): subscribed to the topic the email channel's
 * configuration set publishes them to, it records a suppression on the contact it names.
 */
export function emailFeedbackFunction(): FunctionSpec<SnsEvent, { recorded: number }> {
  return {
    name: "email-feedback",
    settings: {},
    description: "Tidings SES bounces and complaints: suppresses the address on the contact",
    triggers: [{ kind: "sns", topic: "emailFeedback" }],
    uses: withKey([{ resource: "contacts", actions: ["dynamodb:UpdateItem"] }]),
    create: (env, hooks) =>
      makeEmailFeedbackHandler({ ddb: documentClient(), contactsTable: envOf(env, "contacts"), logger: hooks?.logger }),
  };
}
