import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { HttpResult } from "../runtime/contracts";
import { DEFAULTS } from "../runtime/defaults";
import type { StatusApiEvent } from "../runtime/statusApi";
import { statusFunction } from "../runtime/system";
import {
  checkAuthorization,
  childOf,
  type HttpApiRef,
  nodesOf,
  type ResourceRef,
  setNodes,
  type TidingsComponentOptions,
  type Transform,
  withOldType,
} from "./common";
import { describedFunction } from "./described";
import type { InlineFunction, InlineFunctionTransform } from "./InlineFunction";

export interface NotificationStatusRouteArgs {
  /** The producer HTTP API the route is added to. */
  api: HttpApiRef;
  /** Same authorization as `POST /notifications`: "AWS_IAM", or "JWT" with the authorizer's id. */
  authorizationType: string;
  authorizerId?: pulumi.Input<string>;
  /** JWT: the scope a token needs (`tidings:auth.scopes.send`). */
  authorizationScopes?: string[];
  /** The notification log, read with one Query per request (and nothing else). */
  notificationLogTable: ResourceRef;
  kmsKeyArn: pulumi.Input<string>;
  /** @default 14 */
  logRetentionDays?: number;
}

/** The resources of a NotificationStatusRoute a transform can change (pass as the `transform` option). */
export interface NotificationStatusRouteTransform {
  route?: Transform<aws.apigatewayv2.RouteArgs>;
  integration?: Transform<aws.apigatewayv2.IntegrationArgs>;
  permission?: Transform<aws.lambda.PermissionArgs>;
  function?: InlineFunctionTransform;
}

/**
 * `GET /notifications/{eventId}` on the producer API: each channel's status of one notification, from
 * the notification log. Its function may only Query the log table (and decrypt with the stack key).
 * `NotificationApi` adds it; use it directly only for an API of your own.
 *
 * @example
 * new NotificationStatusRoute("producer-api-status", {
 *   api, authorizationType: "AWS_IAM", notificationLogTable, kmsKeyArn: key.arn,
 * });
 */
export class NotificationStatusRoute extends pulumi.ComponentResource {
  readonly route: aws.apigatewayv2.Route;
  /** The route's function's ARN. */
  readonly functionArn: pulumi.Output<string>;

  /** The route's function (TypeScript only: kept off the multi-language schema). */
  get function(): InlineFunction<StatusApiEvent, HttpResult> {
    return nodesOf<{ function: InlineFunction<StatusApiEvent, HttpResult> }>(this).function;
  }

  constructor(name: string, args: NotificationStatusRouteArgs, opts?: TidingsComponentOptions<NotificationStatusRouteTransform>) {
    super("tidings:index:NotificationStatusRoute", name, {}, withOldType("tidings:aws:NotificationStatusRoute", opts));
    checkAuthorization("NotificationStatusRoute", args.authorizationType, args.authorizerId);
    const transform = opts?.transform ?? {};
    const withTransform = childOf(this);
    const fn = describedFunction(
      name,
      statusFunction({
        scopes: { ...DEFAULTS.auth.scopes, ...(args.authorizationScopes?.[0] ? { send: args.authorizationScopes[0] } : {}) },
      }),
      {
        resources: {
          log: { id: args.notificationLogTable.name, arn: args.notificationLogTable.arn },
          key: { id: args.kmsKeyArn, arn: args.kmsKeyArn },
        },
      },
      { kmsKeyArn: args.kmsKeyArn, logRetentionDays: args.logRetentionDays },
      { parent: this, transform: transform.function },
    );
    setNodes(this, { function: fn });
    const integration = new aws.apigatewayv2.Integration(
      ...withTransform(transform.integration, `${name}-integration`, {
        apiId: args.api.id,
        integrationType: "AWS_PROXY",
        integrationMethod: "POST",
        integrationUri: fn.function.invokeArn,
        payloadFormatVersion: "2.0",
      }),
    );
    this.functionArn = fn.function.arn;
    this.route = new aws.apigatewayv2.Route(
      ...withTransform(transform.route, `${name}-route`, {
        apiId: args.api.id,
        routeKey: "GET /notifications/{eventId}",
        target: pulumi.interpolate`integrations/${integration.id}`,
        authorizationType: args.authorizationType,
        authorizerId: args.authorizerId,
        authorizationScopes: args.authorizationType === "JWT" ? args.authorizationScopes : undefined,
      }),
    );
    new aws.lambda.Permission(
      ...withTransform(transform.permission, `${name}-invoke`, {
        action: "lambda:InvokeFunction",
        function: fn.function.name,
        principal: "apigateway.amazonaws.com",
        sourceArn: pulumi.interpolate`${args.api.executionArn}/*/GET/notifications/*`,
      }),
    );
    this.registerOutputs({ functionArn: fn.function.arn });
  }
}
