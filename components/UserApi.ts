import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULTS, ORIGIN_PATTERN } from "../runtime/config";
import { USER_API_ROUTES, userApiFunction } from "../runtime/system";
import type { HttpAnswer, HttpRequestEvent } from "../runtime/http";
import {
  childOf,
  nodesOf,
  type NotificationTypeSettings,
  type ResourceRef,
  setNodes,
  type Throttling,
  type TidingsComponentOptions,
  TidingsError,
  type Transform,
  typeConfigs,
  type WebSocketRef,
  webSocketBinding,
  withOldType,
} from "./common";
import { type Bindings, describedFunction } from "./described";
import type { InlineFunction, InlineFunctionTransform } from "./InlineFunction";
import type { TableRef } from "./NotificationApi";
import type { TokenClaimsInput } from "./WebSocketApi";

/** The routes of the end-user API, as API Gateway route keys (the system description's). */
export { USER_API_ROUTES };

export interface UserApiArgs {
  /** The in-app feed (a FeedTable): listed, counted, marked read and archived. */
  feedTable: TableRef;
  /** Where devices are registered (`device_tokens` of the contact row). */
  contactsTable: TableRef;
  /** Where preferences are kept. */
  settingsTable: TableRef;
  /** Reading records `opened`, a tracking link `clicked` (UpdateItem only). */
  notificationLogTable: TableRef;
  /** The user's open connections, which get the `read` frame after a read or archive. */
  connectionsTable: TableRef;
  /** The WebSocket API the `read` frames are posted through (a WebSocketApi). */
  websocket: WebSocketRef;
  /**
   * The notifications bus: with it, users enter their own e-mail address and phone number
   * (`/me/contact`), and the verification codes go out on the bus like any delivery, to the email and sms
   * channels' queues. Without it, those routes answer 404.
   * @default none: no self-service contact details
   * @example bus: notificationsBus // the EventBus the channels' rules listen on
   */
  bus?: ResourceRef;
  /** The Secrets Manager secret holding the token-signing key (WebSocketApi.secret.arn): user tokens and tracking links. */
  tokenSigningSecretArn: pulumi.Input<string>;
  /** Claims user tokens must carry: the WebSocket's (`tidings:auth`). */
  auth: TokenClaimsInput;
  /** Channels switched on in the stack. */
  enabledChannels: string[];
  /** Declared notification types (`tidings:notificationTypes`): what preferences cover. */
  types: Record<string, NotificationTypeSettings>;
  /**
   * Push devices a user may register; the oldest is evicted beyond this.
   * @default 5
   */
  maxDevicesPerUser?: number;
  /** The stack key: tables, secret and logs are encrypted with it. */
  kmsKeyArn: pulumi.Input<string>;
  /** @default 14 */
  logRetentionDays?: number;
  /**
   * Steady requests per second and burst before the stage answers 429.
   * @default { rateLimit: 100, burstLimit: 200 }
   */
  throttling?: Throttling;
  /**
   * Origins of your web app that may call the API from a browser (CORS; `tidings:userApi.allowOrigins`).
   * Required, with no `*`: a page on any other site gets no answer it can read. Tokens travel in the
   * Authorization header, never in cookies.
   * @example allowOrigins: ["https://app.example.com"]
   */
  allowOrigins: string[];
}

/** The resources of a UserApi a transform can change (pass as the `transform` option). */
export interface UserApiTransform {
  api?: Transform<aws.apigatewayv2.ApiArgs>;
  route?: Transform<aws.apigatewayv2.RouteArgs>;
  integration?: Transform<aws.apigatewayv2.IntegrationArgs>;
  stage?: Transform<aws.apigatewayv2.StageArgs>;
  accessLogs?: Transform<aws.cloudwatch.LogGroupArgs>;
  function?: InlineFunctionTransform;
}

/**
 * The end-user API: an HTTP API for signed-in users (the WebSocket's Bearer tokens) with their feed,
 * read state, preferences and devices, plus the public tracking-link route `GET /t/{token}`. One
 * function serves every route and checks the token itself (the same verifier as the WebSocket
 * authorizer), so a missing or bad token is a 401 with a JSON body naming `authorization`, which an
 * HTTP API Lambda authorizer cannot answer (it says 403). Its role reaches exactly the tables below,
 * posts to the user's connections, and reads the signing secret.
 *
 * @example
 * const userApi = new UserApi("user-api", {
 *   feedTable, contactsTable, settingsTable, notificationLogTable, connectionsTable,
 *   websocket, tokenSigningSecretArn: websocket.secret.arn, auth: config.auth,
 *   enabledChannels: ["websocket", "email"], types: config.notificationTypes, kmsKeyArn: key.arn,
 * });
 * export const userApiUrl = userApi.url; // GET <url>/me/notifications with Authorization: Bearer <token>
 */
export class UserApi extends pulumi.ComponentResource {
  readonly api: aws.apigatewayv2.Api;
  readonly stage: aws.apigatewayv2.Stage;
  readonly routes: aws.apigatewayv2.Route[];
  /** The service function's ARN. */
  readonly functionArn: pulumi.Output<string>;
  /** `https://<id>.execute-api.<region>.amazonaws.com`: tracking links are `<url>/t/<token>`. */
  readonly url: pulumi.Output<string>;

  /** The function serving every route (TypeScript only: kept off the multi-language schema). */
  get function(): InlineFunction<HttpRequestEvent, HttpAnswer> {
    return nodesOf<{ function: InlineFunction<HttpRequestEvent, HttpAnswer> }>(this).function;
  }

  constructor(name: string, args: UserApiArgs, opts?: TidingsComponentOptions<UserApiTransform>) {
    super("tidings:index:UserApi", name, {}, withOldType("tidings:aws:UserApi", opts));
    const withTransform = childOf(this);
    const parent = this;
    const logRetentionDays = args.logRetentionDays ?? DEFAULTS.logRetentionDays;
    const maxDevicesPerUser = args.maxDevicesPerUser ?? DEFAULTS.maxDevicesPerUser;
    const rateLimit = args.throttling?.rateLimit ?? 100;
    const burstLimit = args.throttling?.burstLimit ?? 200;
    if (!(rateLimit > 0) || !(burstLimit >= 1) || !Number.isInteger(burstLimit)) {
      throw new TidingsError(`UserApi: throttling needs rateLimit > 0 and a whole burstLimit ≥ 1 (got ${rateLimit} and ${burstLimit}).`);
    }
    if (!Number.isInteger(maxDevicesPerUser) || maxDevicesPerUser < 1 || maxDevicesPerUser > 100) {
      throw new TidingsError(`UserApi: maxDevicesPerUser must be a whole number 1–100 (got ${maxDevicesPerUser}).`);
    }

    const api = createApi();
    const fn = createFunction();
    const integration = new aws.apigatewayv2.Integration(
      ...withTransform(opts?.transform?.integration, `${name}-service`, {
        apiId: api.id,
        integrationType: "AWS_PROXY",
        integrationMethod: "POST",
        integrationUri: fn.function.invokeArn,
        payloadFormatVersion: "2.0",
      }),
    );
    const routes = USER_API_ROUTES.map(
      (routeKey) =>
        new aws.apigatewayv2.Route(
          ...withTransform(
            opts?.transform?.route,
            `${name}-${routeKey
              .toLowerCase()
              .replace(/[^a-z0-9]+/g, "-")
              .replace(/-$/, "")}`,
            {
              apiId: api.id,
              routeKey,
              target: pulumi.interpolate`integrations/${integration.id}`,
              // The function checks the Bearer token itself (401 with a JSON body); /t/ and /u/{token} are public by design.
              authorizationType: "NONE",
            },
          ),
        ),
    );
    const stage = createStage();
    new aws.lambda.Permission(
      `${name}-invoke`,
      {
        action: "lambda:InvokeFunction",
        function: fn.function.name,
        principal: "apigateway.amazonaws.com",
        sourceArn: pulumi.interpolate`${api.executionArn}/*/*`,
      },
      { parent: fn },
    );

    this.api = api;
    this.stage = stage;
    this.routes = routes;
    setNodes(this, { function: fn });
    this.functionArn = fn.function.arn;
    this.url = api.apiEndpoint;
    this.registerOutputs({ url: this.url });

    function createFunction() {
      const { issuer, audience, jwksUrl, keyCacheSeconds, maxTokenAgeSeconds } = args.auth;
      const spec = userApiFunction({
        auth: { issuer, audience, jwksUrl, keyCacheSeconds: keyCacheSeconds ?? DEFAULTS.auth.keyCacheSeconds, maxTokenAgeSeconds },
        enabledChannels: [...args.enabledChannels],
        types: typeConfigs(args.types),
        maxDevicesPerUser,
        selfService: args.bus !== undefined,
      });
      const bindings: Bindings = {
        // The verification e-mail's link points back at this API.
        values: args.bus ? { linkBaseUrl: api.apiEndpoint } : {},
        resources: {
          feed: { id: args.feedTable.name, arn: args.feedTable.arn },
          contacts: { id: args.contactsTable.name, arn: args.contactsTable.arn },
          settings: { id: args.settingsTable.name, arn: args.settingsTable.arn },
          log: { id: args.notificationLogTable.name, arn: args.notificationLogTable.arn },
          connections: { id: args.connectionsTable.name, arn: args.connectionsTable.arn },
          websocket: webSocketBinding(args.websocket),
          tokenSecret: { id: args.tokenSigningSecretArn, arn: args.tokenSigningSecretArn },
          key: { id: args.kmsKeyArn, arn: args.kmsKeyArn },
          bus: args.bus ? { id: args.bus.name, arn: args.bus.arn } : undefined,
        },
      };
      return describedFunction(
        `${name}-service`,
        spec,
        bindings,
        { kmsKeyArn: args.kmsKeyArn, logRetentionDays },
        { parent, transform: opts?.transform?.function },
      );
    }

    function createApi() {
      return new aws.apigatewayv2.Api(
        ...withTransform(opts?.transform?.api, name, {
          protocolType: "HTTP",
          description: "Tidings end-user API",
          corsConfiguration: {
            allowOrigins: allowedOrigins(args.allowOrigins),
            allowMethods: ["GET", "POST", "PUT", "DELETE"],
            allowHeaders: ["authorization", "content-type"],
            maxAge: 600,
          },
        }),
      );
    }

    function createStage() {
      const accessLogs = new aws.cloudwatch.LogGroup(
        ...withTransform(opts?.transform?.accessLogs, `${name}-access-logs`, {
          retentionInDays: logRetentionDays,
          kmsKeyId: args.kmsKeyArn,
        }),
      );
      return new aws.apigatewayv2.Stage(
        ...withTransform(opts?.transform?.stage, `${name}-default`, {
          apiId: api.id,
          name: "$default",
          autoDeploy: true,
          defaultRouteSettings: { throttlingRateLimit: rateLimit, throttlingBurstLimit: burstLimit },
          accessLogSettings: {
            destinationArn: accessLogs.arn,
            // Never the path: /t/<token>, /u/<token> and /me/devices/<token> carry tokens.
            format: JSON.stringify({
              requestId: "$context.requestId",
              time: "$context.requestTime",
              sourceIp: "$context.identity.sourceIp",
              route: "$context.routeKey",
              status: "$context.status",
              latencyMs: "$context.responseLatency",
              error: "$context.error.message",
            }),
          },
        }),
      );
    }
  }
}

/** The CORS origins, checked: at least one, each an origin (scheme, host, port), none `*`. */
function allowedOrigins(origins: string[] | undefined): string[] {
  if (!origins?.length)
    throw new TidingsError(
      "UserApi: allowOrigins must list your web app's origins (e.g. https://app.example.com); there is no default of *.",
    );
  for (const origin of origins) {
    if (!ORIGIN_PATTERN.test(origin))
      throw new TidingsError(`UserApi: allowOrigins: "${origin}" is not an origin like https://app.example.com (no *, no path).`);
  }
  return origins;
}
