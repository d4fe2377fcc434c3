import * as pulumi from "@pulumi/pulumi";
import { type AddressSchema, addressSchemaProblems } from "../runtime/addresses";
import { DEFAULTS, type NotificationTypeConfig } from "../runtime/config";

/**
 * A user mistake in how a component is composed. One type, with a sentence that says what to do.
 */
export class TidingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TidingsError";
  }
}

/**
 * Changes one underlying resource without forking the component (SST-style): either a partial object
 * merged over the component's args, or a function that gets the args, the resource's real options
 * and its name, and edits args and options in place.
 *
 * Precedence, the same in every component: the component's args and options first (options always
 * carry `parent: <the component>` and any `dependsOn` the component needs), then your transform. A
 * `dependsOn` you set adds to the component's own: it never drops them.
 *
 * @example
 * { queue: { messageRetentionSeconds: 1_209_600 } }
 * @example
 * { stage: (args, opts, name) => { opts.dependsOn = [apiGatewayAccount]; args.tags = { stage: name } } }
 */
export type Transform<T> = Partial<T> | ((args: T, opts: pulumi.CustomResourceOptions, name: string) => void);

/**
 * A component's resource options plus its TypeScript-only `transform` hooks. Transforms are functions,
 * so they stay out of the component's args, which are data (the multi-language schema is made from
 * them); from other languages use Pulumi's own `transforms` resource option.
 */
export interface TidingsComponentOptions<T extends object = object> extends pulumi.ComponentResourceOptions {
  /** Per underlying resource: see `Transform`. */
  transform?: T;
}

/** The settings a caller gave, without the ones left undefined (so defaults spread under them stay). */
export function definedOf<T extends object>(settings: T): Partial<T> {
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** A queue as an alarm needs it: its physical name. */
export interface QueueRef {
  name: pulumi.Input<string>;
}

/** A resource as an alarm or a dashboard needs it: its physical name (a queue, a rule, a function). */
export interface NameRef {
  name: pulumi.Input<string>;
}

/** A queue as a sender needs it: its URL, and its ARN for the IAM statement. */
export interface QueueUrlRef {
  url: pulumi.Input<string>;
  arn: pulumi.Input<string>;
}

/** An API Gateway HTTP API that routes are added to: its id, and its execution ARN for invoke permissions. */
export interface HttpApiRef {
  id: pulumi.Input<string>;
  executionArn: pulumi.Input<string>;
}

/**
 * Checks a route's authorization, which the args hold as a string (the multi-language schema has no
 * unions): `AWS_IAM`, or `JWT` with the API's authorizer id.
 */
export function checkAuthorization(component: string, type: string, authorizerId: unknown): void {
  if (type !== "AWS_IAM" && type !== "JWT") {
    throw new TidingsError(`${component}: authorization must be "AWS_IAM" or "JWT" (got "${type}").`);
  }
  if (type === "JWT" && authorizerId === undefined) {
    throw new TidingsError(`${component}: authorization "JWT" needs the API's authorizerId.`);
  }
}

/** A WebSocket API as a function posting to connections needs it (WebSocketApi fits). */
export interface WebSocketRef {
  managementEndpoint: pulumi.Input<string>;
  executionArn: pulumi.Input<string>;
  stageName: string;
}

/** The WebSocket API as a function's `websocket` resource: its management endpoint, and its stage's execute-api ARN. */
export function webSocketBinding(websocket: WebSocketRef): { id: pulumi.Input<string>; arn: pulumi.Input<string> } {
  return { id: websocket.managementEndpoint, arn: pulumi.interpolate`${websocket.executionArn}/${websocket.stageName}` };
}

/** At most `limit` deliveries per user on a channel in each `windowSeconds`; more are delayed. */
export interface PerUserLimit {
  limit: number;
  windowSeconds: number;
}

/** One notification type, as in `tidings:notificationTypes`. */
export interface NotificationTypeSettings {
  /** Channels this type may use. @default every enabled channel */
  channels?: string[];
  /** false: users must opt in to this type. @default true */
  defaultOptIn?: boolean;
  /** Skips politeness delays and cannot be opted out of. @default false */
  critical?: boolean;
  /** Templates a request of this type may name. @default [the type's own] */
  templates?: string[];
  /** Requests carry a literal `message`, never a template: no template files needed. @default false */
  messageOnly?: boolean;
  /**
   * The inbox first: `channels` get it only if it is still unread in the inbox after `afterSeconds`.
   * @default none
   * @example escalation: { afterSeconds: 900, channels: ["email", "sms"] }
   */
  escalation?: EscalationSettings;
  /**
   * Collected per user (and `key`'s value in `data`) for `windowSeconds`, then one delivery per channel but
   * websocket, whose template gets `{{count}}` and `{{#items}}…{{/items}}`. Needs the scheduled sender.
   * @default none
   * @example digest: { windowSeconds: 3600, key: "repositoryId" }
   */
  digest?: DigestSettings;
}

/** A type's escalation (`tidings:notificationTypes.<type>.escalation`). */
export interface EscalationSettings {
  /** Seconds the inbox has before `channels` get it (at most 7 days). */
  afterSeconds: number;
  /** Channels of the type, not websocket. */
  channels: string[];
}

/** A type's digest (`tidings:notificationTypes.<type>.digest`). */
export interface DigestSettings {
  /** How long a window stays open after its first notification (at most a day). */
  windowSeconds: number;
  /** A `data` field: a digest per value. @default one digest per user */
  key?: string;
}

/** Notification types as the runtime reads them: `defaultOptIn` filled in, plain data (no Outputs). */
export function typeConfigs(types: Record<string, NotificationTypeSettings>): Record<string, NotificationTypeConfig> {
  return Object.fromEntries(
    Object.entries(JSON.parse(JSON.stringify(types)) as Record<string, NotificationTypeSettings>).map(([type, def]) => [
      type,
      { ...def, defaultOptIn: def.defaultOptIn ?? DEFAULTS.type.defaultOptIn },
    ]),
  );
}

/** Requests per second (steady) and burst a stage lets through before answering 429. */
export interface Throttling {
  rateLimit?: number;
  burstLimit?: number;
}

/** A resource as other resources need it: its physical name and its ARN. */
export interface ResourceRef {
  /** Physical name (a table's or queue's name, a bus's name). */
  name: pulumi.Input<string>;
  arn: pulumi.Input<string>;
}

function dependencies(value: pulumi.CustomResourceOptions["dependsOn"]): pulumi.Input<pulumi.Resource>[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? [...value] : [value]) as pulumi.Input<pulumi.Resource>[];
}

/**
 * Applies `transform` to one resource's args and options, returning what to pass to its constructor.
 * The one helper every component uses (through `childOf`).
 */
export function applyTransform<T extends object>(
  transform: Transform<T> | undefined,
  name: string,
  args: T,
  opts: pulumi.CustomResourceOptions = {},
): [string, T, pulumi.CustomResourceOptions] {
  if (transform === undefined) return [name, args, opts];
  if (typeof transform !== "function") return [name, { ...args, ...transform }, opts];
  const own = dependencies(opts.dependsOn);
  const finalOpts: pulumi.CustomResourceOptions = { ...opts };
  transform(args, finalOpts, name);
  const theirs = dependencies(finalOpts.dependsOn);
  const kept = own.filter((resource) => !theirs.includes(resource));
  if (own.length || theirs.length) finalOpts.dependsOn = [...kept, ...theirs];
  return [name, args, finalOpts];
}

/**
 * `new Resource(...childOf(this)(transform, name, args, opts?))`: makes the resource a child of the
 * component, with the component's own options, then applies the user's transform.
 */
export function childOf(parent: pulumi.Resource) {
  return <T extends object>(transform: Transform<T> | undefined, name: string, args: T, opts: pulumi.CustomResourceOptions = {}) =>
    applyTransform(transform, name, args, { ...opts, parent });
}

/**
 * Child resources a component keeps off its schema outputs: the multi-language schema is read from a
 * component's properties, and a child component (InlineFunction, DlqAlarm) has no schema type. The
 * components expose these through getters.
 */
const NODES = new WeakMap<object, object>();

export function setNodes<N extends object>(component: pulumi.ComponentResource, nodes: N): N {
  NODES.set(component, nodes);
  return nodes;
}

export function nodesOf<N extends object>(component: pulumi.ComponentResource): N {
  const nodes = NODES.get(component);
  if (!nodes) throw new TidingsError("The component's resources are read before its constructor finished.");
  return nodes as N;
}

/** An IAM statement Tidings grants: always Allow, always scoped to named resources. */
export interface ScopedStatement {
  /** Allow unless said otherwise; a Deny narrows what an Allow on `*` permits (SMS publish). */
  Effect?: "Allow" | "Deny";
  Action: string[];
  Resource: pulumi.Input<pulumi.Input<string>[]>;
  Condition?: pulumi.Input<Record<string, unknown>>;
}

/** Renders scoped statements as a policy document (JSON string output). */
export function policyDocument(statements: ScopedStatement[]): pulumi.Output<string> {
  return pulumi.output(statements.map((s) => pulumi.output(s))).apply((resolved) =>
    JSON.stringify({
      Version: "2012-10-17",
      Statement: resolved.map((s) => ({ Effect: "Allow", ...s })),
    }),
  );
}

/**
 * A component's options plus an alias to the type it had before it moved to `tidings:index:` (the
 * multi-language schema's namespace), so a deployed stack keeps its resources instead of replacing them.
 */
export function withOldType<O extends pulumi.ComponentResourceOptions>(oldType: string, opts: O | undefined): O {
  return { ...opts, aliases: [...(opts?.aliases ?? []), { type: oldType }] } as O;
}

/**
 * One field of a channel's per-user address (runtime/addresses.ts): `type` "https-url" (on `hosts`) or
 * "string" (matching `pattern`); `secret` fields are masked when read back.
 */
export interface ChannelAddressField {
  /** "https-url" or "string" (a string, not a union: the multi-language schema has no unions). */
  type: string;
  /** https-url: host names the URL may use, exact or `*.example.com`. */
  hosts?: string[];
  pattern?: string;
  /** string: the longest value. @default 2048 */
  maxLength?: number;
  /** Masked when read back (a webhook URL is a credential). @default false */
  secret?: boolean;
}

/** A channel's per-user addresses checked, as the runtime takes them; problems name the argument. */
export function addressSchemaOf(at: string, fields: Record<string, ChannelAddressField> | undefined): AddressSchema | undefined {
  if (fields === undefined) return undefined;
  const problems = addressSchemaProblems(fields, at);
  if (problems.length) throw new TidingsError(problems.join("; "));
  return fields as AddressSchema;
}

/** Every channel's address checked (a component's `channelAddresses`), or undefined for the default (Slack's). */
export function addressesOf(
  component: string,
  channels: Record<string, Record<string, ChannelAddressField>> | undefined,
): Record<string, AddressSchema> | undefined {
  if (channels === undefined) return undefined;
  return Object.fromEntries(
    Object.entries(channels).map(([channel, fields]) => [channel, addressSchemaOf(`${component}: channelAddresses.${channel}`, fields)!]),
  );
}
