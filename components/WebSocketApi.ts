import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { AuthResult } from "../runtime/authorizer";
import { DEFAULTS } from "../runtime/config";
import { type FunctionSpec, webSocketFunctions } from "../runtime/system";
import type { HttpResult, WebSocketEvent } from "../runtime/contracts";
import {
  childOf,
  nodesOf,
  type ResourceRef,
  setNodes,
  type TidingsComponentOptions,
  definedOf,
  TidingsError,
  type Transform,
} from "./common";
import { type Bindings, describedFunction } from "./described";
import type { InlineFunction, InlineFunctionTransform } from "./InlineFunction";
import type { ChannelProvider } from "./providers";

export interface WebSocketApiArgs {
  /**
   * Where open connections are kept (connectionId, userId, ttl; GSI `byUser`).
   * @example
   * connectionsTable: new ConnectionsTable("connections", { kmsKeyArn: key.arn })
   */
  connectionsTable: ResourceRef;
  /** The stack's customer managed key: encrypts the signing secret, the log groups and Lambda env. */
  kmsKeyArn: pulumi.Input<string>;
  /**
   * HS256 key (≥ 32 characters) that signs user tokens. Stored in a Secrets Manager secret; the Lambdas
   * receive only the secret's ARN, never the value.
   * @example
   * tokenSigningSecret: new pulumi.Config("tidings").requireSecret("tokenSigningSecret")
   */
  tokenSigningSecret: pulumi.Input<string>;
  /**
   * Claims a token must carry (`iss`, `aud`).
   * @example
   * auth: { issuer: "https://login.example.com", audience: "tidings" }
   */
  auth: TokenClaimsInput;
  /**
   * Open connections one user may hold: the next `$connect` is refused with 429 (the oldest is not
   * evicted, so a stolen token cannot push the real user off).
   * @default 10
   */
  maxConnectionsPerUser?: number;
  /**
   * Room chat between users (`sendmessage`). Off by default: when off, the route and its function do
   * not exist. When on, a connection joins one room at `$connect` (`?room=`, listed in its token's
   * `rooms` claim) and needs `scope` to send, at most `perMinute` frames per connection.
   * @default { enabled: false, scope: "chat:send", perMinute: 20 }
   * @example chat: { enabled: true, perMinute: 10 }
   */
  chat?: ChatSettings;
  /**
   * Stage name: the last segment of the `wss://` URL.
   * @default "dev"
   */
  stage?: string;
  /**
   * Hours after which a connection row counts as stale even without a `$disconnect` (API Gateway
   * closes every connection after 2 hours; DynamoDB TTL removes the row later).
   * @default 24
   */
  connectionTtlHours?: number;
  /**
   * Retention of the access log and of each function's log group.
   * @default 14
   */
  logRetentionDays?: number;
  /**
   * Stage-wide throttling of messages and connects.
   * @default { burstLimit: 200, rateLimit: 100 }
   * @example
   * throttling: { burstLimit: 1000, rateLimit: 500 }
   */
  throttling?: StageThrottling;
}

/** Claims a token must carry, and how the authorizer gets and keeps keys. */
export interface TokenClaimsInput {
  /** The `iss` a token must carry. Plain text: it is written into the functions' code. */
  issuer: string;
  /** The `aud` a token must carry. */
  audience: string;
  /**
   * An identity provider's JWKS URL: RS256/ES256 tokens it signs are accepted besides HS256 ones.
   * @example jwksUrl: "https://dev-abc.us.auth0.com/.well-known/jwks.json"
   */
  jwksUrl?: string;
  /** Seconds a warm authorizer keeps the signing key before reading it again. @default 300 */
  keyCacheSeconds?: number;
  /** Oldest token accepted, by `iat` (then required). @default no limit */
  maxTokenAgeSeconds?: number;
}

/** Room chat between users over `sendmessage`. */
export interface ChatSettings {
  /** @default false */
  enabled?: boolean;
  /** Scope a token needs to send. @default "chat:send" */
  scope?: string;
  /** Frames one connection may send per minute. @default 20 */
  perMinute?: number;
}

/** Stage-wide throttling of messages and connects. */
export interface StageThrottling {
  burstLimit: number;
  rateLimit: number;
}

/** The resources of a WebSocketApi a transform can change (pass as the `transform` option). */
export interface WebSocketApiTransform {
  api?: Transform<aws.apigatewayv2.ApiArgs>;
  stage?: Transform<aws.apigatewayv2.StageArgs>;
  authorizer?: Transform<aws.apigatewayv2.AuthorizerArgs>;
  secret?: Transform<aws.secretsmanager.SecretArgs>;
  secretVersion?: Transform<aws.secretsmanager.SecretVersionArgs>;
  accessLogGroup?: Transform<aws.cloudwatch.LogGroupArgs>;
  /** Every route's integration. */
  integration?: Transform<aws.apigatewayv2.IntegrationArgs>;
  /** Every route. */
  route?: Transform<aws.apigatewayv2.RouteArgs>;
  /** Every permission API Gateway gets to invoke a function. */
  permission?: Transform<aws.lambda.PermissionArgs>;
  /** Each function (authorizer, connect, disconnect, default, sendmessage). */
  functions?: Partial<Record<WebSocketFunctionName, InlineFunctionTransform>>;
}

/** The API's functions: `sendmessage` exists only when chat is on. */
export type WebSocketFunctions = { authorizer: InlineFunction<WebSocketEvent, AuthResult> } & Record<
  "connect" | "disconnect" | "default",
  InlineFunction<WebSocketEvent, HttpResult>
> & { sendmessage?: InlineFunction<WebSocketEvent, HttpResult> };

/** Child components of a WebSocketApi (kept off its schema outputs). */
interface WebSocketNodes {
  functions: WebSocketFunctions;
}

/** Route keys the API serves, and the function behind each. */
export type WebSocketFunctionName = "authorizer" | "connect" | "disconnect" | "default" | "sendmessage";

/** The stage's throttling unless args say otherwise (not a stack config key). */
const DEFAULT_THROTTLING = { burstLimit: 200, rateLimit: 100 };

/**
 * The WebSocket side of Tidings: an API Gateway WebSocket API whose `$connect` is guarded by a token
 * authorizer (HS256 JWT in `?token=`, `sub` = user id), with routes that keep the connections table
 * current and a `sendmessage` broadcast. Notifications reach users through the websocket channel's
 * worker, which posts to `managementEndpoint` (`providerFor`).
 *
 * @example
 * const key = new EncryptionKey("tidings");
 * const connections = new ConnectionsTable("connections", { kmsKeyArn: key.arn });
 * const ws = new WebSocketApi("ws", {
 *   connectionsTable: connections,
 *   kmsKeyArn: key.arn,
 *   tokenSigningSecret: config.requireSecret("tokenSigningSecret"),
 *   auth: { issuer: "tidings", audience: "tidings" },
 * });
 * export const websocketUrl = ws.url; // wss://abc123.execute-api.eu-west-1.amazonaws.com/dev
 *
 * @example
 * // Tighter throttling and a production stage
 * new WebSocketApi("ws", { ...args, stage: "prod", throttling: { burstLimit: 50, rateLimit: 20 } });
 *
 * @example
 * // A client (browser)
 * const socket = new WebSocket(`${url}?token=${encodeURIComponent(token)}`);
 * socket.send(JSON.stringify({ action: "sendmessage", message: "hello" }));
 */
export class WebSocketApi extends pulumi.ComponentResource {
  readonly api: aws.apigatewayv2.Api;
  readonly stage: aws.apigatewayv2.Stage;
  readonly authorizer: aws.apigatewayv2.Authorizer;
  /** Holds the token signing key; functions get its ARN. */
  readonly secret: aws.secretsmanager.Secret;
  /** The secret's value, a Pulumi secret in the state. */
  readonly secretVersion: aws.secretsmanager.SecretVersion;
  readonly accessLogGroup: aws.cloudwatch.LogGroup;
  /** `wss://{apiId}.execute-api.{region}.amazonaws.com/{stage}` */
  readonly url: pulumi.Output<string>;
  /** `https://{apiId}.execute-api.{region}.amazonaws.com/{stage}`: the management API (PostToConnection). */
  readonly managementEndpoint: pulumi.Output<string>;
  readonly executionArn: pulumi.Output<string>;
  readonly stageName: string;

  /** The functions behind the routes and the authorizer (`sendmessage` exists only when chat is on). */
  get functions(): WebSocketFunctions {
    return nodesOf<WebSocketNodes>(this).functions;
  }

  /**
   * The websocket channel's provider, posting to this API's connections.
   * @example new NotificationChannel("websocket", { ...shared, channel: "websocket", provider: ws.providerFor(connectionsTable) })
   */
  providerFor(connectionsTable: ResourceRef): ChannelProvider {
    return {
      type: "websocket",
      connectionsTable,
      managementEndpoint: this.managementEndpoint,
      executionArn: this.executionArn,
      stage: this.stageName,
    };
  }

  constructor(name: string, args: WebSocketApiArgs, opts?: TidingsComponentOptions<WebSocketApiTransform>) {
    super("tidings:index:WebSocketApi", name, {}, opts);
    const withTransform = childOf(this);
    const transform = opts?.transform ?? {};
    const settings = normalizeArgs(args);
    this.stageName = settings.stage;

    this.api = createApi();
    this.executionArn = this.api.executionArn;
    [this.secret, this.secretVersion] = createSecret(this);
    this.managementEndpoint = this.api.apiEndpoint.apply((endpoint) => `${endpoint.replace(/^wss:/, "https:")}/${settings.stage}`);
    setNodes<WebSocketNodes>(this, { functions: createFunctions(this) });
    this.authorizer = createAuthorizer(this);
    const routes = createRoutes(this);
    this.accessLogGroup = createAccessLogGroup();
    this.stage = createStage(this, routes);
    this.url = pulumi.interpolate`${this.api.apiEndpoint}/${settings.stage}`;

    this.registerOutputs({
      url: this.url,
      managementEndpoint: this.managementEndpoint,
      executionArn: this.executionArn,
      stageName: this.stageName,
    });

    function createApi() {
      return new aws.apigatewayv2.Api(
        ...withTransform(transform.api, name, {
          protocolType: "WEBSOCKET",
          routeSelectionExpression: "$request.body.action",
          description: "Tidings: live notifications to signed-in users",
        }),
      );
    }

    function createSecret(_self: WebSocketApi) {
      const secret = new aws.secretsmanager.Secret(
        ...withTransform(transform.secret, `${name}-token-signing`, {
          description: "Tidings: HS256 key that signs user tokens for the WebSocket API",
          kmsKeyId: args.kmsKeyArn,
        }),
      );
      const version = new aws.secretsmanager.SecretVersion(
        ...withTransform(transform.secretVersion, `${name}-token-signing`, {
          secretId: secret.id,
          secretString: pulumi.secret(args.tokenSigningSecret),
        }),
      );
      return [secret, version] as const;
    }

    function createFunctions(self: WebSocketApi): WebSocketApi["functions"] {
      const { issuer, audience, jwksUrl, keyCacheSeconds, maxTokenAgeSeconds } = args.auth;
      const described = webSocketFunctions({
        auth: { issuer, audience, jwksUrl, keyCacheSeconds: keyCacheSeconds ?? DEFAULTS.auth.keyCacheSeconds, maxTokenAgeSeconds },
        maxConnectionsPerUser: settings.maxConnectionsPerUser,
        chat: settings.chat,
        connectionTtlHours: settings.connectionTtlHours,
      });
      const bindings: Bindings = {
        resources: {
          connections: { id: args.connectionsTable.name, arn: args.connectionsTable.arn },
          tokenSecret: { id: self.secret.arn, arn: self.secret.arn },
          websocket: { id: self.managementEndpoint, arn: pulumi.interpolate`${self.executionArn}/${settings.stage}` },
          key: { id: args.kmsKeyArn, arn: args.kmsKeyArn },
        },
      };
      const functions: Partial<Record<WebSocketFunctionName, InlineFunction<WebSocketEvent, AuthResult | HttpResult>>> = {};
      for (const spec of [described.authorizer, ...described.routes] as FunctionSpec<WebSocketEvent, AuthResult | HttpResult>[]) {
        const key = spec.name as WebSocketFunctionName;
        functions[key] = describedFunction(
          `${name}-${key}`,
          spec,
          bindings,
          { kmsKeyArn: args.kmsKeyArn, logRetentionDays: settings.logRetentionDays },
          { parent: self, transform: transform.functions?.[key] },
        );
      }
      return functions as WebSocketApi["functions"];
    }

    function createAuthorizer(self: WebSocketApi) {
      const fn = self.functions.authorizer.function;
      const authorizer = new aws.apigatewayv2.Authorizer(
        ...withTransform(transform.authorizer, `${name}-token`, {
          apiId: self.api.id,
          authorizerType: "REQUEST",
          authorizerUri: fn.invokeArn,
          identitySources: ["route.request.querystring.token"],
          name: `${name}-token`,
        }),
      );
      new aws.lambda.Permission(
        ...withTransform(transform.permission, `${name}-authorizer-invoke`, {
          action: "lambda:InvokeFunction",
          function: fn.name,
          principal: "apigateway.amazonaws.com",
          sourceArn: pulumi.interpolate`${self.executionArn}/authorizers/${authorizer.id}`,
        }),
      );
      return authorizer;
    }

    function createRoutes(self: WebSocketApi) {
      // Each route function's description names its route ($connect, $disconnect, $default, sendmessage).
      const served = Object.entries(self.functions).flatMap(([key, fn]) =>
        (fn.spec?.triggers ?? []).flatMap((trigger) =>
          trigger.kind === "websocket" ? [[key as Exclude<WebSocketFunctionName, "authorizer">, trigger.route] as const] : [],
        ),
      );
      return served.map(([key, routeKey]) => {
        const fn = self.functions[key]!.function;
        const integration = new aws.apigatewayv2.Integration(
          ...withTransform(transform.integration, `${name}-${key}`, {
            apiId: self.api.id,
            integrationType: "AWS_PROXY",
            integrationMethod: "POST",
            integrationUri: fn.invokeArn,
          }),
        );
        new aws.lambda.Permission(
          ...withTransform(transform.permission, `${name}-${key}-invoke`, {
            action: "lambda:InvokeFunction",
            function: fn.name,
            principal: "apigateway.amazonaws.com",
            sourceArn: pulumi.interpolate`${self.executionArn}/${settings.stage}/${routeKey}`,
          }),
        );
        const guarded = routeKey === "$connect";
        return new aws.apigatewayv2.Route(
          ...withTransform(transform.route, `${name}-${key}`, {
            apiId: self.api.id,
            routeKey,
            target: pulumi.interpolate`integrations/${integration.id}`,
            authorizationType: guarded ? "CUSTOM" : "NONE",
            authorizerId: guarded ? self.authorizer.id : undefined,
          }),
        );
      });
    }

    function createAccessLogGroup() {
      return new aws.cloudwatch.LogGroup(
        ...withTransform(transform.accessLogGroup, `${name}-access`, {
          retentionInDays: settings.logRetentionDays,
          kmsKeyId: args.kmsKeyArn,
        }),
      );
    }

    function createStage(self: WebSocketApi, routes: aws.apigatewayv2.Route[]) {
      const [stageArgs, stageOpts] = [
        {
          apiId: self.api.id,
          name: settings.stage,
          autoDeploy: true,
          defaultRouteSettings: {
            throttlingBurstLimit: settings.throttling.burstLimit,
            throttlingRateLimit: settings.throttling.rateLimit,
            dataTraceEnabled: false,
          },
          accessLogSettings: { destinationArn: self.accessLogGroup.arn, format: ACCESS_LOG_FORMAT },
        } satisfies aws.apigatewayv2.StageArgs,
        { dependsOn: routes },
      ];
      return new aws.apigatewayv2.Stage(...withTransform(transform.stage, `${name}-${settings.stage}`, stageArgs, stageOpts));
    }
  }
}

/** One JSON line per connect, message and disconnect: who, which route, what status. No tokens. */
const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: "$context.requestId",
  connectionId: "$context.connectionId",
  eventType: "$context.eventType",
  routeKey: "$context.routeKey",
  status: "$context.status",
  sourceIp: "$context.identity.sourceIp",
  requestTime: "$context.requestTimeEpoch",
  userId: "$context.authorizer.userId",
  authorizerError: "$context.authorizer.error",
  integrationError: "$context.integrationErrorMessage",
});

function normalizeArgs(args: WebSocketApiArgs) {
  const stage = args.stage ?? DEFAULTS.stage;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(stage)) {
    throw new TidingsError(`WebSocketApi stage "${stage}" is not a valid stage name: use 1–64 letters, digits, "-" or "_".`);
  }
  const connectionTtlHours = args.connectionTtlHours ?? DEFAULTS.connectionTtlHours;
  if (!Number.isInteger(connectionTtlHours) || connectionTtlHours < 1) {
    throw new TidingsError(`WebSocketApi connectionTtlHours must be a whole number of hours ≥ 1, got ${connectionTtlHours}.`);
  }
  const throttling = args.throttling ?? DEFAULT_THROTTLING;
  if (!(throttling.burstLimit > 0) || !(throttling.rateLimit > 0)) {
    throw new TidingsError(
      `WebSocketApi throttling needs positive burstLimit and rateLimit, got ${JSON.stringify(throttling)}; leave it out for the defaults.`,
    );
  }
  if (!args.connectionsTable) {
    throw new TidingsError(
      'WebSocketApi needs connectionsTable: pass a ConnectionsTable (new ConnectionsTable("connections", { kmsKeyArn })).',
    );
  }
  const maxConnectionsPerUser = args.maxConnectionsPerUser ?? DEFAULTS.websocket.maxConnectionsPerUser;
  if (!Number.isInteger(maxConnectionsPerUser) || maxConnectionsPerUser < 1) {
    throw new TidingsError(`WebSocketApi maxConnectionsPerUser must be a whole number ≥ 1, got ${maxConnectionsPerUser}.`);
  }
  const chat = { ...DEFAULTS.websocket.chat, ...definedOf(args.chat ?? {}) };
  return {
    stage,
    connectionTtlHours,
    throttling,
    maxConnectionsPerUser,
    chat,
    logRetentionDays: args.logRetentionDays ?? DEFAULTS.logRetentionDays,
  };
}
