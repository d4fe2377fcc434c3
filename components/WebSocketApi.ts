import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type AuthResult, makeSecretKeyLoader, makeTokenVerifier, makeWebSocketAuthorizer } from "../runtime/authorizer";
import type { HttpResult, WebSocketEvent } from "../runtime/contracts";
import { makeChatHandler } from "../runtime/chat";
import { makeConnectGate } from "../runtime/connectGate";
import { managementClientsByEndpoint } from "../runtime/deliver";
import { makeConnectHandler, makeDefaultHandler, makeDisconnectHandler } from "../runtime/websocket";
import {
  childOf,
  nodesOf,
  type ResourceRef,
  type ScopedStatement,
  setNodes,
  type TidingsComponentOptions,
  TidingsError,
  type Transform,
} from "./common";
import { InlineFunction, type InlineFunctionTransform } from "./InlineFunction";
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
  issuer: pulumi.Input<string>;
  audience: pulumi.Input<string>;
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

/** Child components and statements of a WebSocketApi (kept off its schema outputs). */
interface WebSocketNodes {
  functions: WebSocketFunctions;
  deliveryStatements: ScopedStatement[];
}

/** Route keys the API serves, and the function behind each. */
export type WebSocketFunctionName = "authorizer" | "connect" | "disconnect" | "default" | "sendmessage";

const ROUTES: Record<Exclude<WebSocketFunctionName, "authorizer">, string> = {
  connect: "$connect",
  disconnect: "$disconnect",
  default: "$default",
  sendmessage: "sendmessage",
};

const DEFAULTS = { stage: "dev", connectionTtlHours: 24, logRetentionDays: 14, throttling: { burstLimit: 200, rateLimit: 100 } };

/**
 * The WebSocket side of Tidings: an API Gateway WebSocket API whose `$connect` is guarded by a token
 * authorizer (HS256 JWT in `?token=`, `sub` = user id), with routes that keep the connections table
 * current and a `sendmessage` broadcast. Notifications reach users through the websocket channel's
 * worker, which posts to `managementEndpoint` (see `deliveryStatements`).
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

  /** What a function posting to this API's connections needs (the websocket channel's worker). */
  get deliveryStatements(): ScopedStatement[] {
    return nodesOf<WebSocketNodes>(this).deliveryStatements;
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
    const statements = scopedStatements(this);
    setNodes<WebSocketNodes>(this, { functions: createFunctions(this), deliveryStatements: statements.delivery });
    this.authorizer = createAuthorizer(this);
    const routes = createRoutes(this);
    this.accessLogGroup = createAccessLogGroup();
    this.stage = createStage(this, routes);
    this.url = pulumi.interpolate`${this.api.apiEndpoint}/${settings.stage}`;
    this.managementEndpoint = this.api.apiEndpoint.apply((endpoint) => `${endpoint.replace(/^wss:/, "https:")}/${settings.stage}`);

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

    function scopedStatements(self: WebSocketApi) {
      const table = args.connectionsTable;
      const postToConnections = pulumi.interpolate`${self.executionArn}/${settings.stage}/POST/@connections/*`;
      const useKey: ScopedStatement = { Action: ["kms:Decrypt", "kms:GenerateDataKey"], Resource: [args.kmsKeyArn] };
      const manage: ScopedStatement = { Action: ["execute-api:ManageConnections"], Resource: [postToConnections] };
      return {
        authorizer: [
          { Action: ["secretsmanager:GetSecretValue"], Resource: [self.secret.arn] },
          { Action: ["kms:Decrypt"], Resource: [args.kmsKeyArn] },
        ],
        connect: [
          { Action: ["dynamodb:PutItem"], Resource: [table.arn] },
          { Action: ["dynamodb:Query"], Resource: [pulumi.interpolate`${table.arn}/index/byUser`] },
          useKey,
        ],
        disconnect: [{ Action: ["dynamodb:DeleteItem"], Resource: [table.arn] }, useKey],
        default: [manage],
        sendmessage: [
          { Action: ["dynamodb:UpdateItem", "dynamodb:DeleteItem"], Resource: [table.arn] },
          { Action: ["dynamodb:Query"], Resource: [pulumi.interpolate`${table.arn}/index/byRoom`] },
          useKey,
          manage,
        ],
        delivery: [
          { Action: ["dynamodb:Query"], Resource: [pulumi.interpolate`${table.arn}/index/*`] },
          { Action: ["dynamodb:DeleteItem"], Resource: [table.arn] },
          useKey,
          manage,
        ],
      } satisfies Record<WebSocketFunctionName | "delivery", ScopedStatement[]>;
    }

    function createFunctions(self: WebSocketApi): WebSocketApi["functions"] {
      // Only these Outputs are captured by the shipped code: the table name, the secret's ARN and the claims.
      const tableName = pulumi.output(args.connectionsTable.name);
      const secretArn = self.secret.arn;
      const issuer = pulumi.output(args.auth.issuer);
      const audience = pulumi.output(args.auth.audience);
      const ttlSeconds = settings.connectionTtlHours * 3600;
      const { jwksUrl, keyCacheSeconds, maxTokenAgeSeconds } = args.auth;
      const { maxConnectionsPerUser, chat } = settings;
      const knownActions = chat.enabled ? ["sendmessage"] : [];
      const factories: Partial<Record<WebSocketFunctionName, () => (event: WebSocketEvent) => Promise<AuthResult | HttpResult>>> = {
        authorizer: () =>
          makeWebSocketAuthorizer({
            verify: makeTokenVerifier({
              getKey: makeSecretKeyLoader({
                secrets: new SecretsManagerClient({}),
                secretId: secretArn.get(),
                ttlSeconds: keyCacheSeconds,
              }),
              issuer: issuer.get(),
              audience: audience.get(),
              jwksUrl,
              maxTokenAgeSeconds,
            }),
          }),
        connect: () => {
          const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
          const connectionsTable = tableName.get();
          const gate = makeConnectGate({ ddb, connectionsTable, maxConnectionsPerUser });
          return makeConnectHandler({ ddb, connectionsTable, ttlSeconds, gate });
        },
        disconnect: () =>
          makeDisconnectHandler({ ddb: DynamoDBDocumentClient.from(new DynamoDBClient({})), connectionsTable: tableName.get() }),
        default: () => makeDefaultHandler({ mgmt: managementClientsByEndpoint(), knownActions }),
      };
      if (chat.enabled) {
        factories.sendmessage = () =>
          makeChatHandler({
            ddb: DynamoDBDocumentClient.from(new DynamoDBClient({})),
            mgmt: managementClientsByEndpoint(),
            connectionsTable: tableName.get(),
            scope: chat.scope,
            perMinute: chat.perMinute,
          });
      }
      const descriptions: Record<WebSocketFunctionName, string> = {
        authorizer: "Tidings: checks the token of a WebSocket $connect",
        connect: "Tidings: stores a new WebSocket connection",
        disconnect: "Tidings: removes a closed WebSocket connection",
        default: "Tidings: answers WebSocket frames no route matched",
        sendmessage: "Tidings: posts a chat message to the connections of the sender's room",
      };
      // Each key holds its own factory's function: the authorizer answers a policy, the routes an HTTP result.
      const functions: Partial<Record<WebSocketFunctionName, InlineFunction<WebSocketEvent, AuthResult | HttpResult>>> = {};
      for (const key of Object.keys(factories) as WebSocketFunctionName[]) {
        functions[key] = new InlineFunction<WebSocketEvent, AuthResult | HttpResult>(
          `${name}-${key}`,
          {
            factory: factories[key]!,
            statements: statements[key],
            description: descriptions[key],
            // Only the authorizer verifies tokens (jose); the route handlers need the AWS SDK alone.
            kmsKeyArn: args.kmsKeyArn,
            logRetentionDays: settings.logRetentionDays,
            // sendmessage posts to a whole room; the others touch one row.
            timeoutSeconds: key === "sendmessage" ? 29 : 10,
          },
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
      const served = (Object.entries(ROUTES) as [Exclude<WebSocketFunctionName, "authorizer">, string][]).filter(
        ([key]) => self.functions[key],
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
  const throttling = args.throttling ?? DEFAULTS.throttling;
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
  const maxConnectionsPerUser = args.maxConnectionsPerUser ?? 10;
  if (!Number.isInteger(maxConnectionsPerUser) || maxConnectionsPerUser < 1) {
    throw new TidingsError(`WebSocketApi maxConnectionsPerUser must be a whole number ≥ 1, got ${maxConnectionsPerUser}.`);
  }
  const chat = { enabled: args.chat?.enabled ?? false, scope: args.chat?.scope ?? "chat:send", perMinute: args.chat?.perMinute ?? 20 };
  return {
    stage,
    connectionTtlHours,
    throttling,
    maxConnectionsPerUser,
    chat,
    logRetentionDays: args.logRetentionDays ?? DEFAULTS.logRetentionDays,
  };
}
