import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULTS } from "../runtime/config";
import type { HttpResult } from "../runtime/contracts";
import type { HttpApiEvent } from "../runtime/notify";
import { producerFunction } from "../runtime/system";
import { TopicFanOut, type TopicFanOutTransform } from "./TopicFanOut";
import {
  addressesOf,
  type ChannelAddressField,
  applyTransform,
  childOf,
  nodesOf,
  type NotificationTypeSettings,
  type ResourceRef,
  setNodes,
  type Throttling,
  type TidingsComponentOptions,
  TidingsError,
  type Transform,
  type QueueUrlRef,
  definedOf,
  typeConfigs,
} from "./common";
import { type Bindings, describedFunction } from "./described";
import type { InlineFunction, InlineFunctionTransform } from "./InlineFunction";
import { NotificationStatusRoute, type NotificationStatusRouteTransform } from "./NotificationStatusRoute";
import { ScheduledNotifications, type ScheduledNotificationsTransform } from "./ScheduledNotifications";

/**
 * Who may call `POST /notifications`: `{ type: "iam" }`, SigV4-signed requests from principals your IAM
 * policies allow `execute-api:Invoke` on the route; or `{ type: "jwt", issuer, audience }`, a bearer JWT
 * from your identity provider, checked by API Gateway before the function runs.
 */
export interface NotificationApiAuth {
  /** "iam" or "jwt". */
  type: string;
  /** jwt: your identity provider's https:// issuer URL. */
  issuer?: string;
  /** jwt: audiences (`aud`) a token may carry. */
  audience?: string[];
  /**
   * jwt: the scope each producer route needs, by what it allows, enforced by API Gateway (route
   * authorization scopes) and again by the function, so an end user of the same issuer is not a producer.
   * @default { send: "notifications:send", contactsWrite: "contacts:write", contactsRead: "contacts:read", erase: "users:erase" }
   * @example scopes: { send: "tidings/send" }
   */
  scopes?: ProducerScopes;
}

/** The scope of each producer route, by what it allows (`tidings:auth.scopes`); each one unset takes its default. */
export interface ProducerScopes {
  /** `POST /notifications`, `GET` and `DELETE /notifications/{eventId}`. @default "notifications:send" */
  send?: string;
  /** `PUT /users/{userId}/contact`. @default "contacts:write" */
  contactsWrite?: string;
  /** `GET /users/{userId}/contact`. @default "contacts:read" */
  contactsRead?: string;
  /** `DELETE /users/{userId}`. @default "users:erase" */
  erase?: string;
  /** `PUT`, `GET /topics/{topic}/subscribers`, `DELETE /topics/{topic}/subscribers/{userId}`. @default "topics:write" */
  topicsWrite?: string;
}

/** Child components of a NotificationApi (kept off its schema outputs). */
interface ApiNodes {
  function: InlineFunction<HttpApiEvent, HttpResult>;
  status: NotificationStatusRoute;
  scheduling?: ScheduledNotifications;
  topics?: TopicFanOut;
}

/** The templates bucket as the API needs it. */
export interface TemplatesRef {
  bucketName: pulumi.Input<string>;
  arn: pulumi.Input<string>;
}

/** A table as the API needs it: name for the handler, ARN for the policy. */
export type TableRef = ResourceRef;

export interface NotificationApiArgs {
  /** The EventBridge bus the service puts one event per channel on. */
  bus: ResourceRef;
  /** Where users' addresses live (read with BatchGetItem only, together with the settings). */
  contactsTable: TableRef;
  /** Users' opt-in/opt-out settings (read with BatchGetItem only, together with the contact). */
  settingsTable: TableRef;
  /** The dedupe log: one item per notification (conditional PutItem, GetItem; UpdateItem to add a channel on retry). */
  notificationLogTable: TableRef;
  /** Where the templates are (`s3:GetObject` on `templates/*` only). */
  templates: TemplatesRef;
  /**
   * The status-callbacks queue (StatusCallbacks component), when producers get callbacks: final
   * statuses decided here are put on it (sqs:SendMessage on this queue only).
   * @default no callbacks
   */
  statusCallbacksQueue?: QueueUrlRef;
  /** Channels switched on in the stack, in config order. */
  enabledChannels: string[];
  /** Declared notification types (`tidings:notificationTypes`). */
  types: Record<string, NotificationTypeSettings>;
  /**
   * Days a notification-log item is kept (`tidings:logTtlDays`).
   * @default 90
   */
  logTtlDays?: number;
  /**
   * Minutes a created/pending row may sit untouched before a producer's retry puts its event on the bus
   * again instead of answering `duplicate` (`tidings:reconciler.stuckAfterMinutes`).
   * @default 15
   */
  stuckAfterMinutes?: number;
  /** The stack key: encrypts the logs and lets the function read SSE-KMS templates. */
  kmsKeyArn: pulumi.Input<string>;
  /**
   * Days the function's and the stage's access logs are kept.
   * @default 14
   */
  logRetentionDays?: number;
  /**
   * Requests per second (steady) and burst the `$default` stage lets through before answering 429.
   * @default { rateLimit: 50, burstLimit: 100 }
   * @example throttling: { rateLimit: 200, burstLimit: 400 }
   */
  throttling?: Throttling;
  /**
   * How producers authenticate.
   * @default { type: "iam" }
   * @example auth: { type: "jwt", issuer: "https://auth.example.com", audience: "tidings-producers" }
   */
  auth?: NotificationApiAuth;
  /**
   * The types each producer may send (`tidings:producers`), by producer: a JWT's `client_id` (else
   * `sub`), or an IAM caller's role ARN (`arn:aws:iam::<account>:role/<name>`). Exact type names or
   * `prefix.*`; a critical type only by its name. Others get 403 naming the type.
   * @default every producer may send every type
   * @example producers: { "svc-orders": ["order.*"], "svc-security": ["security.alert"] }
   */
  producers?: Record<string, string[]>;
  /**
   * The per-user address of each channel that keeps one in contacts' `external_channels` (a channel's
   * `address`): the service resolves each delivery's `address` by it.
   * @default Slack's webhook, on a channel named slack
   */
  channelAddresses?: Record<string, Record<string, ChannelAddressField>>;
  /**
   * Click tracking: actionable notifications gain `link`, a signed `<baseUrl>/t/<token>` served by the
   * UserApi, and templates can use `{{link}}`. Signed with the token-signing secret.
   * @default no links
   * @example linkTracking: { baseUrl: userApi.url, signingSecretArn: websocket.secret.arn }
   */
  linkTracking?: LinkTracking;
  /**
   * Scheduled notifications: `POST /notifications` takes `sendAt`, `DELETE /notifications/{eventId}`
   * cancels, and a ScheduledNotifications child holds the schedule group, role, DLQ and sender.
   * @default true
   * @example scheduling: false // sendAt is a 400 naming tidings:scheduling.enabled
   */
  scheduling?: boolean;
  /** Where the alarm of the scheduled notifications' DLQ goes. @default no alarm */
  alertsTopicArn?: pulumi.Input<string>;
  /**
   * Topic subscriptions (a TopicsTable): with it, `POST /notifications` takes `topic` instead of `userId`
   * and a TopicFanOut sends it to every subscriber.
   * @default no topic sends (`topic` is a 400)
   * @example topicsTable: new TopicsTable("topics", { kmsKeyArn: key.arn })
   */
  topicsTable?: TableRef;
}

/** Signed click-tracking links in actionable notifications. */
export interface LinkTracking {
  baseUrl: pulumi.Input<string>;
  signingSecretArn: pulumi.Input<string>;
  /** @default 30 */
  ttlDays?: number;
  /** Adds a 1×1 open pixel to e-mail HTML. @default false */
  openPixel?: boolean;
}

/** The resources of a NotificationApi a transform can change (pass as the `transform` option). */
export interface NotificationApiTransform {
  api?: Transform<aws.apigatewayv2.ApiArgs>;
  route?: Transform<aws.apigatewayv2.RouteArgs>;
  integration?: Transform<aws.apigatewayv2.IntegrationArgs>;
  stage?: Transform<aws.apigatewayv2.StageArgs>;
  authorizer?: Transform<aws.apigatewayv2.AuthorizerArgs>;
  accessLogs?: Transform<aws.cloudwatch.LogGroupArgs>;
  permission?: Transform<aws.lambda.PermissionArgs>;
  function?: InlineFunctionTransform;
  /** `GET /notifications/{eventId}`: its route, integration and function. */
  status?: NotificationStatusRouteTransform;
  /** Scheduled notifications: the schedule group, role, DLQ, scheduled sender and cancel route. */
  scheduling?: ScheduledNotificationsTransform;
  topics?: TopicFanOutTransform;
}

/**
 * The producer API: an HTTP API with `POST /notifications` (and `GET /notifications/{eventId}`, each
 * channel's status, served by its own Query-only function: NotificationStatusRoute) behind IAM (or JWT) auth,
 * throttled, with KMS-encrypted access logs. Its function validates the request, resolves each
 * channel's address and content, records the eventId×channel in the notification log and puts one
 * event per channel on the bus. Its role reads exactly the contacts and settings tables, the
 * `templates/*` objects, and writes the log table and the one bus.
 *
 * @example
 * const api = new NotificationApi("producer-api", {
 *   bus, contactsTable, settingsTable, notificationLogTable, templates,
 *   enabledChannels: ["websocket", "email"],
 *   types: { "order.shipped": { defaultOptIn: true } },
 *   kmsKeyArn: key.arn,
 * });
 * export const notificationsEndpoint = api.endpoint;
 *
 * @example
 * // Producers present a JWT from your identity provider instead of signing with SigV4:
 * new NotificationApi("producer-api", { ...args, auth: { type: "jwt", issuer: "https://auth.example.com", audience: "tidings" } });
 */
export class NotificationApi extends pulumi.ComponentResource {
  readonly api: aws.apigatewayv2.Api;
  readonly stage: aws.apigatewayv2.Stage;
  readonly route: aws.apigatewayv2.Route;
  readonly authorizer?: aws.apigatewayv2.Authorizer;
  /** The notification service (its `factory` is what the Lambda runs). */
  get function(): InlineFunction<HttpApiEvent, HttpResult> {
    return nodesOf<ApiNodes>(this).function;
  }

  /** `GET /notifications/{eventId}`: what happened to one notification, per channel. */
  get status(): NotificationStatusRoute {
    return nodesOf<ApiNodes>(this).status;
  }

  /** Scheduled notifications (`sendAt`, `DELETE /notifications/{eventId}`); undefined when `scheduling` is false. */
  get scheduling(): ScheduledNotifications | undefined {
    return nodesOf<ApiNodes>(this).scheduling;
  }
  /** The topic fan-out, when the API has a topics table. */
  get topics(): TopicFanOut | undefined {
    return nodesOf<ApiNodes>(this).topics;
  }
  /** `https://<id>.execute-api.<region>.amazonaws.com` */
  readonly url: pulumi.Output<string>;
  /** `<url>/notifications`: where producers POST. */
  readonly endpoint: pulumi.Output<string>;

  constructor(name: string, args: NotificationApiArgs, opts?: TidingsComponentOptions<NotificationApiTransform>) {
    super("tidings:index:NotificationApi", name, {}, opts);
    const withTransform = childOf(this);
    const transform = opts?.transform ?? {};
    const parent = this;
    const auth = normalizeAuth(args.auth);
    const throttling = normalizeThrottling(args.throttling);
    const logRetentionDays = args.logRetentionDays ?? DEFAULTS.logRetentionDays;

    const api = createApi();
    const authorizer = auth.type === "jwt" ? createJwtAuthorizer(auth) : undefined;
    const { fn, scheduling, topics } = createFunction();
    const integration = createIntegration();
    const route = createRoute();
    const status = new NotificationStatusRoute(
      `${name}-status`,
      {
        api,
        authorizationType: authorizer ? "JWT" : "AWS_IAM",
        authorizerId: authorizer?.id,
        authorizationScopes: auth.type === "jwt" ? [auth.scopes.send] : undefined,
        notificationLogTable: args.notificationLogTable,
        kmsKeyArn: args.kmsKeyArn,
        logRetentionDays,
      },
      { parent: this, transform: transform.status },
    );
    const stage = createStage();
    allowApiToInvoke();

    this.api = api;
    this.stage = stage;
    this.route = route;
    this.authorizer = authorizer;
    setNodes<ApiNodes>(this, { function: fn, status, scheduling, topics });
    this.url = api.apiEndpoint;
    this.endpoint = pulumi.interpolate`${api.apiEndpoint}/notifications`;
    this.registerOutputs({ url: this.url, endpoint: this.endpoint });

    function createFunction() {
      const settings = {
        enabledChannels: [...args.enabledChannels],
        types: typeConfigs(args.types),
        logTtlDays: args.logTtlDays ?? DEFAULTS.logTtlDays,
        stuckAfterMs: (args.stuckAfterMinutes ?? DEFAULTS.reconciler.stuckAfterMinutes) * 60_000,
        tracking: args.linkTracking
          ? {
              linkTtlDays: args.linkTracking.ttlDays ?? DEFAULTS.tracking.linkTtlDays,
              openPixel: args.linkTracking.openPixel ?? DEFAULTS.tracking.openPixel,
            }
          : undefined,
        statusCallbacks: args.statusCallbacksQueue !== undefined,
        scopes: auth.type === "jwt" ? auth.scopes : DEFAULTS.auth.scopes,
        producers: args.producers,
        addresses: addressesOf("NotificationApi", args.channelAddresses),
        scheduling: args.scheduling ?? DEFAULTS.scheduling.enabled,
        topics: args.topicsTable !== undefined,
      };
      const bindings: Bindings = {
        resources: {
          contacts: { id: args.contactsTable.name, arn: args.contactsTable.arn },
          settings: { id: args.settingsTable.name, arn: args.settingsTable.arn },
          log: { id: args.notificationLogTable.name, arn: args.notificationLogTable.arn },
          templates: { id: args.templates.bucketName, arn: args.templates.arn },
          bus: { id: args.bus.name, arn: args.bus.arn },
          key: { id: args.kmsKeyArn, arn: args.kmsKeyArn },
          ...(args.statusCallbacksQueue ? { callbacks: { id: args.statusCallbacksQueue.url, arn: args.statusCallbacksQueue.arn } } : {}),
          ...(args.linkTracking
            ? { tokenSecret: { id: args.linkTracking.signingSecretArn, arn: args.linkTracking.signingSecretArn } }
            : {}),
        },
        values: args.linkTracking ? { linkBaseUrl: args.linkTracking.baseUrl } : {},
      };
      const scheduling = settings.scheduling
        ? new ScheduledNotifications(
            `${name}-scheduling`,
            {
              api,
              authorizationType: authorizer ? "JWT" : "AWS_IAM",
              authorizerId: authorizer?.id,
              authorizationScopes: auth.type === "jwt" ? [auth.scopes.send] : undefined,
              producer: settings,
              status: { scopes: settings.scopes },
              bindings,
              kmsKeyArn: args.kmsKeyArn,
              logRetentionDays,
              alertsTopicArn: args.alertsTopicArn,
            },
            { parent, transform: transform.scheduling },
          )
        : undefined;
      const topics = args.topicsTable
        ? new TopicFanOut(
            `${name}-topics`,
            {
              producer: settings,
              bindings,
              topicsTable: args.topicsTable,
              kmsKeyArn: args.kmsKeyArn,
              alertsTopicArn: args.alertsTopicArn,
              logRetentionDays,
            },
            { parent, transform: transform.topics },
          )
        : undefined;
      const fn = describedFunction(
        `${name}-service`,
        producerFunction(settings),
        {
          resources: { ...bindings.resources, ...scheduling?.serviceBindings.resources, ...topics?.serviceBindings.resources },
          values: { ...bindings.values, ...scheduling?.serviceBindings.values },
        },
        { kmsKeyArn: args.kmsKeyArn, logRetentionDays },
        { parent, transform: transform.function },
      );
      return { fn, scheduling, topics };
    }

    function createApi() {
      return new aws.apigatewayv2.Api(
        ...withTransform(transform.api, name, {
          protocolType: "HTTP",
          description: "Tidings producer API",
        }),
      );
    }

    function createIntegration() {
      return new aws.apigatewayv2.Integration(
        ...withTransform(transform.integration, `${name}-service`, {
          apiId: api.id,
          integrationType: "AWS_PROXY",
          integrationMethod: "POST",
          integrationUri: fn.function.invokeArn,
          payloadFormatVersion: "2.0",
        }),
      );
    }

    function createJwtAuthorizer(jwt: Extract<NormalizedAuth, { type: "jwt" }>) {
      return new aws.apigatewayv2.Authorizer(
        ...withTransform(transform.authorizer, `${name}-jwt`, {
          apiId: api.id,
          authorizerType: "JWT",
          identitySources: ["$request.header.Authorization"],
          jwtConfiguration: { issuer: jwt.issuer, audiences: jwt.audience },
        }),
      );
    }

    function createRoute() {
      return new aws.apigatewayv2.Route(
        ...withTransform(transform.route, `${name}-notifications`, {
          apiId: api.id,
          routeKey: "POST /notifications",
          target: pulumi.interpolate`integrations/${integration.id}`,
          authorizationType: authorizer ? "JWT" : "AWS_IAM",
          authorizerId: authorizer?.id,
          authorizationScopes: auth.type === "jwt" ? [auth.scopes.send] : undefined,
        }),
      );
    }

    function createStage() {
      const accessLogs = new aws.cloudwatch.LogGroup(
        ...withTransform(transform.accessLogs, `${name}-access-logs`, {
          retentionInDays: logRetentionDays,
          kmsKeyId: args.kmsKeyArn,
        }),
      );
      return new aws.apigatewayv2.Stage(
        ...withTransform(transform.stage, `${name}-default`, {
          apiId: api.id,
          name: "$default",
          autoDeploy: true,
          defaultRouteSettings: { throttlingRateLimit: throttling.rateLimit, throttlingBurstLimit: throttling.burstLimit },
          accessLogSettings: {
            destinationArn: accessLogs.arn,
            // Who called and what happened; never the body (it holds personal data).
            format: JSON.stringify({
              requestId: "$context.requestId",
              time: "$context.requestTime",
              caller: "$context.identity.caller",
              userArn: "$context.identity.userArn",
              sourceIp: "$context.identity.sourceIp",
              route: "$context.routeKey",
              status: "$context.status",
              latencyMs: "$context.responseLatency",
              error: "$context.error.message",
              authorizerError: "$context.authorizer.error",
            }),
          },
        }),
      );
    }

    function allowApiToInvoke() {
      new aws.lambda.Permission(
        ...applyTransform(
          transform.permission,
          `${name}-invoke`,
          {
            action: "lambda:InvokeFunction",
            function: fn.function.name,
            principal: "apigateway.amazonaws.com",
            sourceArn: pulumi.interpolate`${api.executionArn}/*/POST/notifications`,
          },
          { parent: fn },
        ),
      );
    }
  }
}

type NormalizedAuth = { type: "iam" } | { type: "jwt"; issuer: string; audience: string[]; scopes: Required<ProducerScopes> };

function normalizeAuth(auth: NotificationApiAuth | undefined): NormalizedAuth {
  if (!auth) return { type: "iam" };
  if (auth.type === "iam") return { type: "iam" };
  if (auth.type === "jwt") {
    // A single audience as a string is accepted too (TypeScript callers, config).
    const given = auth.audience as string[] | string | undefined;
    const audiences = Array.isArray(given) ? given : given === undefined ? [] : [given];
    if (!auth.issuer || !/^https:\/\//.test(auth.issuer)) {
      throw new TidingsError(
        `NotificationApi: auth.issuer must be your identity provider's https:// issuer URL (got "${auth.issuer ?? ""}").`,
      );
    }
    if (audiences.length === 0 || audiences.some((a) => typeof a !== "string" || a === "")) {
      throw new TidingsError("NotificationApi: auth.audience must name the audience (aud claim) producers' tokens carry.");
    }
    const scopes = { ...DEFAULTS.auth.scopes, ...definedOf(auth.scopes ?? {}) };
    for (const [which, scope] of Object.entries(scopes)) {
      if (!/^[\x21-\x7e]{1,128}$/.test(scope)) {
        throw new TidingsError(`NotificationApi: auth.scopes.${which} must be one scope name without spaces (got "${scope}").`);
      }
    }
    return { type: "jwt", issuer: auth.issuer, audience: audiences, scopes };
  }
  throw new TidingsError(`NotificationApi: auth.type must be "iam" or "jwt" (got "${(auth as { type?: string }).type}").`);
}

function normalizeThrottling(throttling: NotificationApiArgs["throttling"]) {
  const rateLimit = throttling?.rateLimit ?? 50;
  const burstLimit = throttling?.burstLimit ?? 100;
  if (!(rateLimit > 0) || !(burstLimit >= 1) || !Number.isInteger(burstLimit)) {
    throw new TidingsError(
      `NotificationApi: throttling needs rateLimit > 0 and a whole burstLimit ≥ 1 (got ${rateLimit} and ${burstLimit}).`,
    );
  }
  return { rateLimit, burstLimit };
}
