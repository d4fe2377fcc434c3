import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { HttpAnswer, HttpRequestEvent } from "../runtime/http";
import {
  addressesOf,
  type ChannelAddressField,
  checkAuthorization,
  childOf,
  type HttpApiRef,
  nodesOf,
  setNodes,
  type TidingsComponentOptions,
  type Transform,
  definedOf,
  type WebSocketRef,
  webSocketBinding,
  withOldType,
} from "./common";
import { DEFAULTS } from "../runtime/defaults";
import { describedFunction } from "./described";
import type { InlineFunction, InlineFunctionTransform } from "./InlineFunction";
import { USER_DATA_ROUTES as DESCRIBED_ROUTES, TOPIC_ROUTES, userDataFunction } from "../runtime/system";
import type { ProducerScopes, TableRef } from "./NotificationApi";

/** The producer-side user-data routes, as API Gateway route keys (and, with a topics table, TOPIC_ROUTE_KEYS). */
export const USER_DATA_ROUTES: string[] = DESCRIBED_ROUTES.map((r) => r.route);
/** The topic subscription routes, as API Gateway route keys. */
export const TOPIC_ROUTE_KEYS: string[] = TOPIC_ROUTES.map((r) => r.route);

export interface UserDataRoutesArgs {
  /**
   * The producer API the routes join (NotificationApi.api), and how its `POST /notifications` is
   * authorized, so these routes are behind exactly the same auth.
   */
  api: HttpApiRef;
  /** `AWS_IAM` (the producer API's default) or `JWT` with the API's authorizer. */
  authorization: RouteAuthorization;
  contactsTable: TableRef;
  settingsTable: TableRef;
  feedTable: TableRef;
  connectionsTable: TableRef;
  /**
   * The notification log: erasing a user also deletes their log items (through its userEventIds index),
   * so what was sent to them goes, and a delivery still queued for them is refused.
   * @default the log is left to its TTL
   */
  notificationLogTable?: TableRef;
  /**
   * The politeness table and the channels with per-user limits: erasing a user also deletes their
   * counters there (keyed by their userId).
   * @default the counters are left to their TTL (an hour or so)
   * @example politeness: { table: politenessTable, channels: ["email", "sms"] }
   */
  politeness?: PolitenessRef;
  /**
   * The per-user address of each channel that keeps one in contacts' `external_channels`: the contact
   * routes check it by these rules and mask its secret fields.
   * @default Slack's webhook, on a channel named slack
   */
  channelAddresses?: Record<string, Record<string, ChannelAddressField>>;
  /** Erasing a user also closes their open connections through this WebSocket API. */
  websocket: WebSocketRef;
  /**
   * Topic subscriptions (a TopicsTable): with it, the routes `PUT`/`GET /topics/{topic}/subscribers` and
   * `DELETE /topics/{topic}/subscribers/{userId}` (scope `topicsWrite`), and erasing a user deletes theirs.
   * @default no topic routes
   * @example topicsTable: new TopicsTable("topics", { kmsKeyArn: key.arn })
   */
  topicsTable?: TableRef;
  kmsKeyArn: pulumi.Input<string>;
  /** @default 14 */
  logRetentionDays?: number;
}

/** The politeness table, and the channels whose per-user counters it holds. */
export interface PolitenessRef {
  table: TableRef;
  channels: string[];
}

/** How a route is authorized: `AWS_IAM`, or `JWT` with the API's authorizer (`authorizerId`, required then). */
export interface RouteAuthorization {
  /** `AWS_IAM` or `JWT` (a string, not a union: the multi-language schema has no unions). */
  type: string;
  authorizerId?: pulumi.Input<string>;
  /**
   * JWT: the scope each route needs (`tidings:auth.scopes`: contactsWrite, contactsRead, erase).
   * @default { contactsWrite: "contacts:write", contactsRead: "contacts:read", erase: "users:erase" }
   */
  scopes?: ProducerScopes;
}

/** The resources of a UserDataRoutes a transform can change (pass as the `transform` option). */
export interface UserDataRoutesTransform {
  route?: Transform<aws.apigatewayv2.RouteArgs>;
  integration?: Transform<aws.apigatewayv2.IntegrationArgs>;
  function?: InlineFunctionTransform;
}

/**
 * `PUT|GET /users/{userId}/contact` and `DELETE /users/{userId}` on the producer API: a product stores
 * its users' e-mail, phone and external channels (checked by the rules delivery uses), reads them back,
 * and erases a user (contact, settings, feed, connections, notification-log items). Its role reaches only
 * those tables.
 *
 * @example
 * new UserDataRoutes("user-data", {
 *   api: producerApi.api, authorization: { type: "AWS_IAM" },
 *   contactsTable, settingsTable, feedTable, connectionsTable, notificationLogTable, websocket, kmsKeyArn: key.arn,
 * });
 */
export class UserDataRoutes extends pulumi.ComponentResource {
  readonly routes: aws.apigatewayv2.Route[];
  /** The function serving the routes' ARN. */
  readonly functionArn: pulumi.Output<string>;

  /** The function serving the routes (TypeScript only: kept off the multi-language schema). */
  get function(): InlineFunction<HttpRequestEvent, HttpAnswer> {
    return nodesOf<{ function: InlineFunction<HttpRequestEvent, HttpAnswer> }>(this).function;
  }

  constructor(name: string, args: UserDataRoutesArgs, opts?: TidingsComponentOptions<UserDataRoutesTransform>) {
    super("tidings:index:UserDataRoutes", name, {}, withOldType("tidings:aws:UserDataRoutes", opts));
    checkAuthorization("UserDataRoutes", args.authorization.type, args.authorization.authorizerId);
    const withTransform = childOf(this);
    const scopes = { ...DEFAULTS.auth.scopes, ...definedOf(args.authorization.scopes ?? {}) };

    const fn = describedFunction(
      `${name}-service`,
      userDataFunction({
        eraseLog: args.notificationLogTable !== undefined,
        politenessChannels: args.politeness?.channels ?? [],
        scopes,
        addresses: addressesOf("UserDataRoutes", args.channelAddresses),
        topics: args.topicsTable !== undefined,
      }),
      {
        resources: {
          contacts: { id: args.contactsTable.name, arn: args.contactsTable.arn },
          settings: { id: args.settingsTable.name, arn: args.settingsTable.arn },
          feed: { id: args.feedTable.name, arn: args.feedTable.arn },
          connections: { id: args.connectionsTable.name, arn: args.connectionsTable.arn },
          websocket: webSocketBinding(args.websocket),
          key: { id: args.kmsKeyArn, arn: args.kmsKeyArn },
          ...(args.notificationLogTable ? { log: { id: args.notificationLogTable.name, arn: args.notificationLogTable.arn } } : {}),
          ...(args.politeness ? { politeness: { id: args.politeness.table.name, arn: args.politeness.table.arn } } : {}),
          ...(args.topicsTable ? { topics: { id: args.topicsTable.name, arn: args.topicsTable.arn } } : {}),
        },
      },
      { kmsKeyArn: args.kmsKeyArn, logRetentionDays: args.logRetentionDays },
      { parent: this, transform: opts?.transform?.function },
    );
    const integration = new aws.apigatewayv2.Integration(
      ...withTransform(opts?.transform?.integration, `${name}-service`, {
        apiId: args.api.id,
        integrationType: "AWS_PROXY",
        integrationMethod: "POST",
        integrationUri: fn.function.invokeArn,
        payloadFormatVersion: "2.0",
      }),
    );
    this.routes = [...DESCRIBED_ROUTES, ...(args.topicsTable ? TOPIC_ROUTES : [])].map(
      ({ route: routeKey, scope }) =>
        new aws.apigatewayv2.Route(
          ...withTransform(
            opts?.transform?.route,
            `${name}-${routeKey
              .toLowerCase()
              .replace(/[^a-z0-9]+/g, "-")
              .replace(/-$/, "")}`,
            {
              apiId: args.api.id,
              routeKey,
              target: pulumi.interpolate`integrations/${integration.id}`,
              authorizationType: args.authorization.type,
              authorizerId: args.authorization.type === "JWT" ? args.authorization.authorizerId : undefined,
              authorizationScopes: args.authorization.type === "JWT" ? [scopes[scope]] : undefined,
            },
          ),
        ),
    );
    new aws.lambda.Permission(
      `${name}-invoke`,
      {
        action: "lambda:InvokeFunction",
        function: fn.function.name,
        principal: "apigateway.amazonaws.com",
        sourceArn: pulumi.interpolate`${args.api.executionArn}/*/*/users/*`,
      },
      { parent: fn },
    );
    setNodes(this, { function: fn });
    this.functionArn = fn.function.arn;
    this.registerOutputs({ functionArn: this.functionArn });
  }
}
