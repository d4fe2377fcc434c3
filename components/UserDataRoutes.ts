import { ApiGatewayManagementApiClient, DeleteConnectionCommand } from "@aws-sdk/client-apigatewaymanagementapi";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { resolveManagementEndpoint } from "../runtime/deliver";
import { makeFeed } from "../runtime/feed";
import type { HttpAnswer, HttpRequestEvent } from "../runtime/http";
import { makeNotificationLog } from "../runtime/notificationLog";
import { makeUserDataApi } from "../runtime/userData";
import {
  checkAuthorization,
  childOf,
  type HttpApiRef,
  nodesOf,
  setNodes,
  type TidingsComponentOptions,
  type Transform,
  type WebSocketRef,
  withOldType,
} from "./common";
import { InlineFunction, type InlineFunctionTransform } from "./InlineFunction";
import type { TableRef } from "./NotificationApi";

/** The producer-side user-data routes, as API Gateway route keys. */
export const USER_DATA_ROUTES = ["PUT /users/{userId}/contact", "GET /users/{userId}/contact", "DELETE /users/{userId}"];

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
  /** Erasing a user also closes their open connections through this WebSocket API. */
  websocket: WebSocketRef;
  kmsKeyArn: pulumi.Input<string>;
  /** @default 14 */
  logRetentionDays?: number;
}

/** How a route is authorized: `AWS_IAM`, or `JWT` with the API's authorizer (`authorizerId`, required then). */
export interface RouteAuthorization {
  /** `AWS_IAM` or `JWT` (a string, not a union: the multi-language schema has no unions). */
  type: string;
  authorizerId?: pulumi.Input<string>;
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

    const tables = {
      contacts: pulumi.output(args.contactsTable.name),
      settings: pulumi.output(args.settingsTable.name),
      feed: pulumi.output(args.feedTable.name),
      connections: pulumi.output(args.connectionsTable.name),
    };
    const logTable = args.notificationLogTable ? pulumi.output(args.notificationLogTable.name) : undefined;
    const managementEndpoint = pulumi.output(args.websocket.managementEndpoint);
    const fn = new InlineFunction<HttpRequestEvent, HttpAnswer>(
      `${name}-service`,
      {
        description: "Tidings producer API: PUT/GET /users/{userId}/contact, DELETE /users/{userId}",
        // mustache: installed from node_modules, the shipped code requires whole modules (validate → templates).
        factory: () => {
          const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
          const mgmt = new ApiGatewayManagementApiClient({ endpoint: resolveManagementEndpoint({ captured: managementEndpoint.get() }) });
          return makeUserDataApi({
            ddb,
            tables: { contacts: tables.contacts.get(), settings: tables.settings.get(), connections: tables.connections.get() },
            feed: makeFeed({ ddb, table: tables.feed.get() }),
            log: logTable ? makeNotificationLog({ ddb, table: logTable.get() }) : undefined,
            closeConnection: async (connectionId) => {
              await mgmt.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
            },
          });
        },
        statements: [
          { Action: ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"], Resource: [args.contactsTable.arn] },
          { Action: ["dynamodb:DeleteItem"], Resource: [args.settingsTable.arn] },
          { Action: ["dynamodb:Query", "dynamodb:DeleteItem"], Resource: [args.feedTable.arn] },
          { Action: ["dynamodb:Query"], Resource: [pulumi.interpolate`${args.connectionsTable.arn}/index/*`] },
          { Action: ["dynamodb:DeleteItem"], Resource: [args.connectionsTable.arn] },
          ...(args.notificationLogTable
            ? [
                { Action: ["dynamodb:Query"], Resource: [pulumi.interpolate`${args.notificationLogTable.arn}/index/userEventIds`] },
                { Action: ["dynamodb:BatchWriteItem"], Resource: [args.notificationLogTable.arn] },
              ]
            : []),
          {
            Action: ["execute-api:ManageConnections"],
            Resource: [pulumi.interpolate`${args.websocket.executionArn}/${args.websocket.stageName}/DELETE/@connections/*`],
          },
          { Action: ["kms:Decrypt", "kms:GenerateDataKey"], Resource: [args.kmsKeyArn] },
        ],
        kmsKeyArn: args.kmsKeyArn,
        logRetentionDays: args.logRetentionDays ?? 14,
      },
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
    this.routes = USER_DATA_ROUTES.map(
      (routeKey) =>
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
