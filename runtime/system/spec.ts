/**
 * The vocabulary of the system's one description: what a function is (its runtime factory), what
 * starts it (its triggers), and what it touches and how (its uses). Data and plain functions only:
 * components/ turns each FunctionSpec into a Lambda with its triggers and a role whose policy is its
 * uses; local/ runs the same spec on this machine with the same triggers and auth; the IAM tests read
 * the same uses to know which AWS calls each function may make. See docs/architecture.md.
 */
import type { Provider } from "../contracts";
import type { DecisionLogger } from "../log";
import type { Metrics } from "../metrics";

/**
 * The resources of a Tidings system a function can use. Each has one identifier a handler reads from
 * its environment (a table's or bus's name, a queue's URL, a secret's ARN, the management endpoint) and
 * one ARN its policy names.
 */
export const RESOURCES = [
  "connections",
  "contacts",
  "settings",
  "log",
  "politeness",
  "feed",
  /** Topic subscriptions (runtime/topics.ts). */
  "topics",
  /** The topic fan-out's queue: `{ eventId }` of each topic send to go on with (runtime/topicFanOut.ts). */
  "fanout",
  "bus",
  "templates",
  "tokenSecret",
  "websocket",
  "callbacks",
  "callbacksSecret",
  "queue",
  "key",
  /** The schedule group of scheduled notifications (its name; policies name its schedules). */
  "schedules",
  /** The role EventBridge Scheduler assumes to invoke the scheduled sender (its ARN, passed on CreateSchedule). */
  "schedulerRole",
] as const;
export type ResourceName = (typeof RESOURCES)[number];

/**
 * Values a handler reads that are not resources of its policy: the user API's URL (tracking links), a
 * channel's provider and fallback settings (a ProviderConfig as JSON: its sender, its function's ARN…),
 * the scheduled sender's function ARN and the schedules' DLQ ARN (what a schedule invokes, and where a
 * fire it could not deliver goes).
 */
export type ValueName = "linkBaseUrl" | "provider" | "fallback" | "scheduledSender" | "schedulesDeadLetter";

/**
 * What a function finds at cold start: the physical identifier of each resource and value it uses (a
 * table's name, a queue's URL, a secret's ARN…). The stack fills it from the resources' outputs, the
 * local mode from the local servers.
 */
export type Env = Readonly<Partial<Record<ResourceName | ValueName, string>>>;

/** The identifier of `name` in `env`; a function whose description names a resource always gets it. */
export function envOf(env: Env, name: ResourceName | ValueName): string {
  const value = env[name];
  if (value === undefined) throw new Error(`the function's environment has no ${name}: its description must use it`);
  return value;
}

/**
 * One resource a function touches, and the IAM actions it calls on it. `part` narrows the ARN: a table
 * index (`index/byUser`), objects under a prefix (`templates/*`), the connections of the WebSocket API
 * (`POST/@connections/*`).
 */
export interface Use {
  resource: ResourceName;
  actions: readonly string[];
  part?: string;
  /** Narrows the grant further (e.g. `dynamodb:LeadingKeys`). */
  condition?: Record<string, unknown>;
  /**
   * Who makes these calls with the function's role: its handler (the default), or Lambda itself, which
   * polls the function's queue trigger with the role (SQS receive, delete, visibility, attributes).
   */
  caller?: "event-source";
}

/** Who may call an HTTP route. */
export type RouteAuth =
  /** A producer: an IAM principal (SigV4) or a JWT carrying the named scope (`tidings:auth.scopes`). */
  | { kind: "producer"; scope: ProducerScope }
  /** An end user: the function checks the user's Bearer token itself (a JSON 401, which a gateway authorizer cannot answer). */
  | { kind: "user" }
  /** Nobody in particular: a signed link carries its own proof. */
  | { kind: "public" };

/** The producer scopes, by what they allow; their names come from config. */
export type ProducerScope = "send" | "contactsWrite" | "contactsRead" | "erase" | "topicsWrite";

/** An HTTP API of the system. */
export type HttpApiName = "producer" | "user";

/** `METHOD /path/{param}` (`{proxy+}` for the rest of the path), as API Gateway writes a route key. */
export type RouteKey = `${"GET" | "POST" | "PUT" | "DELETE" | "ANY"} /${string}`;

export interface HttpRoute {
  api: HttpApiName;
  route: RouteKey;
  auth: RouteAuth;
  /** The largest body the function reads; it answers 413 above it. */
  maxBodyBytes: number;
}

/** The HTTP trigger of a producer route: the producer API, the scope the route table gives it. */
export function producerRoute(entry: { route: RouteKey; scope: ProducerScope }, maxBodyBytes: number): Trigger {
  return { kind: "http", api: "producer", route: entry.route, auth: { kind: "producer", scope: entry.scope }, maxBodyBytes };
}

export type Trigger =
  | ({ kind: "http" } & HttpRoute)
  /** A route of the WebSocket API (`$connect`, `$disconnect`, `$default`, or an action). */
  | { kind: "websocket"; route: string }
  /** The WebSocket API's `$connect` authorizer. */
  | { kind: "websocket-authorizer"; identitySources: string[] }
  /** An SQS event source: batches of up to `batchSize`, at most `maxConcurrency` at once. */
  | {
      kind: "queue";
      queue: "queue" | "callbacks" | "fanout";
      batchSize: number;
      maxConcurrency: number;
      maximumBatchingWindowSeconds: number;
    }
  /** A schedule (EventBridge rate or cron expression). */
  | { kind: "schedule"; expression: string }
  /** One-time EventBridge Scheduler schedules another function creates (scheduled notifications). */
  | { kind: "scheduler" }
  /** An SNS topic's subscription: SES's bounce and complaint events (the local mode plays them: POST /dev/ses/bounce). */
  | { kind: "sns"; topic: "emailFeedback" };

/**
 * What only the local mode passes to a factory: where decisions and metrics go, and its fault
 * injection. The stack passes nothing: a Lambda logs to stdout and prints EMF lines.
 */
export interface Hooks {
  logger?: DecisionLogger;
  metrics?: Metrics;
  /** Wraps a channel's provider (tests and `POST /dev/faults` make sends fail this way). */
  wrapProvider?: (channel: string, provider: Provider, role: "primary" | "fallback") => Provider;
  /** Origins a Slack webhook URL may use besides hooks.slack.com: the local mode's Slack sink. */
  webhookOrigins?: string[];
  /** Callbacks may name this machine (localhost): the local mode's receivers run there. */
  loopbackCallbacks?: boolean;
  /** Pages of subscribers a topic fan-out run takes before it hands the rest on (tests make it small). */
  fanOutPagesPerRun?: number;
}

/** One function of the system. */
export interface FunctionSpec<E = never, R = unknown> {
  /** Logical name: the Lambda's, the local mode's log component's. */
  name: string;
  description: string;
  triggers: Trigger[];
  uses: Use[];
  /** Values besides resources the handler reads from its environment. */
  values?: ValueName[];
  /** What it was built from (plain data): how the tests and the ops page read a running function's settings. */
  settings?: unknown;
  /** @default 10 */
  timeoutSeconds?: number;
  /** @default 256 */
  memorySize?: number;
  /**
   * The handler, built once per instance (a Lambda cold start; a local worker slot). Serialized by
   * value into the Lambda: it captures settings (plain data) and runtime functions, never resources.
   */
  create: (env: Env, hooks?: Hooks) => (event: E) => Promise<R>;
}

/**
 * The stack key's use that a function's other uses need, derived from them rather than written beside
 * them: every resource of the stack is encrypted with the key. Reading a table, an SSE-KMS object or a
 * secret, and receiving from a queue need `kms:Decrypt`; writing a table or sending to a queue also need
 * `kms:GenerateDataKey` (SQS encrypts each message under a data key; for table writes AWS's own key
 * policy for DynamoDB allows both through the service, and a write without it is not proven here). The
 * bus and the WebSocket API use the key by their own grant: putting events and posting need none.
 */
export function withKey(uses: Use[]): Use[] {
  const actions = uses.flatMap((use) => use.actions);
  const writes = actions.some((a) => /^sqs:SendMessage$|^dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem)$/.test(a));
  const reads = writes || actions.some((a) => /^(dynamodb|secretsmanager):|^s3:GetObject$|^sqs:ReceiveMessage$/.test(a));
  if (!reads) return uses;
  return [...uses, { resource: "key", actions: writes ? ["kms:Decrypt", "kms:GenerateDataKey"] : ["kms:Decrypt"] }];
}
