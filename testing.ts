/**
 * `tidings/testing`: unit tests of a stack that composes Tidings, without a Pulumi CLI or an AWS account.
 *
 * - `useMocks(options?)` installs Pulumi mocks that record every resource with its inputs and give it the
 *   computed outputs real providers would (arn, name, url, id…), and optionally stack config.
 * - `settle()` waits until every registration has reached the mocks.
 * - `shippedCode(fn)` gives an inline Lambda's code as `pulumi up` ships it: the bundle that is its
 *   archive's only file, so a test can run it.
 * - `startLocalAws()` starts the local mode's AWS-compatible servers (DynamoDB, SQS, SNS, S3, SES) on
 *   127.0.0.1, to run that code against: a channel worker writes the notification log.
 * - `acceptDeliveries(table, deliveries)` records deliveries in that log as the notification service does
 *   (a worker sends nothing the service did not accept), `sqsEventOf(deliveries)` hands them to a worker
 *   as SQS does, and `deliveryStatus` reads what the worker recorded.
 *
 * @example
 * const resources = useMocks({ config: { "tidings:channels": { websocket: {} }, … }, secrets: ["tidings:tokenSigningSecret"] });
 * const tidings = createTidingsStack(readStackConfig());
 * await settle();
 * expect(ofType(resources, "aws:sqs/queue:Queue")).to.have.length(2);
 */
import * as pulumi from "@pulumi/pulumi";
import { BUNDLE_FILE, RUNTIME_PROVIDED } from "./components/bundle";
import { type InlineFunction, inlineFunctions } from "./components/InlineFunction";
import type { LocalAws, LocalAwsOptions } from "./local/aws";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { type ChannelDelivery, detailTypeFor, EVENT_SOURCE, type SqsEvent } from "./runtime/contracts";
import { deliveryDigest } from "./runtime/deliveryDigest";
import { makeNotificationLog } from "./runtime/notificationLog";

/** A resource the program registered, as the mocks saw it. */
export interface MockedResource {
  /** e.g. `aws:sqs/queue:Queue` */
  type: string;
  name: string;
  urn: string;
  // biome-ignore lint/suspicious/noExplicitAny: resource inputs of every type; tests read what they assert on
  inputs: any;
  /** The inputs plus the computed outputs the mocks gave it. */
  // biome-ignore lint/suspicious/noExplicitAny: as inputs
  state: any;
}

export const ACCOUNT = "123456789012";
export const REGION = "us-east-1";

const recorded: MockedResource[] = [];

/** A deterministic hex string of `length` characters from `seed` (physical names and ids stay stable across runs). */
function hexOf(seed: string, length: number): string {
  let out = "";
  for (let round = 0; out.length < length; round++) {
    let h = 2166136261 ^ round;
    for (const c of seed) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
    out += (h >>> 0).toString(16).padStart(8, "0");
  }
  return out.slice(0, length);
}

/** AWS's lower-case alphanumeric ids (API Gateway's API, route and integration ids). */
function alnumOf(seed: string, length: number): string {
  return BigInt(`0x${hexOf(seed, 24)}`)
    .toString(36)
    .padStart(length, "0")
    .slice(-length);
}

/** A UUID in AWS's form (KMS key ids, event source mappings, subscriptions). */
function uuidOf(seed: string): string {
  const h = hexOf(seed, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * What AWS (through the Pulumi AWS provider) answers for each resource type Tidings creates: its id and
 * ARN in AWS's own formats, and the other computed outputs the components read. A type not listed has
 * no ARN of its own (an attachment, a policy, a subscription's settings) and gets its name as id.
 */
// biome-ignore lint/suspicious/noExplicitAny: a mock's inputs are whatever the resource's args were
const AWS_OUTPUTS: Record<string, (physical: string, inputs: Record<string, any>, seed: string) => Record<string, unknown>> = {
  "aws:kms/key:Key": (_p, _i, seed) => {
    const keyId = uuidOf(seed);
    return { id: keyId, keyId, arn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}` };
  },
  "aws:kms/alias:Alias": (physical, inputs) => {
    const name = inputs.name ?? `alias/${physical}`;
    return { id: name, name, arn: `arn:aws:kms:${REGION}:${ACCOUNT}:${name}` };
  },
  "aws:secretsmanager/secret:Secret": (physical, _i, seed) => {
    const arn = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${physical}-${alnumOf(seed, 6)}`;
    return { id: arn, arn };
  },
  "aws:secretsmanager/secretVersion:SecretVersion": (_p, inputs, seed) => {
    const versionId = uuidOf(seed);
    return { id: `${inputs.secretId}|${versionId}`, arn: inputs.secretId, versionId };
  },
  "aws:cloudwatch/eventBus:EventBus": (physical) => ({ id: physical, arn: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${physical}` }),
  "aws:cloudwatch/eventRule:EventRule": (physical, inputs) => {
    const bus = inputs.eventBusName && inputs.eventBusName !== "default" ? `${inputs.eventBusName}/` : "";
    return { id: `${bus}${physical}`, arn: `arn:aws:events:${REGION}:${ACCOUNT}:rule/${bus}${physical}` };
  },
  "aws:cloudwatch/eventTarget:EventTarget": (physical, inputs) => ({
    id: `${inputs.eventBusName ?? "default"}-${inputs.rule}-${physical}`,
  }),
  "aws:cloudwatch/eventBusPolicy:EventBusPolicy": (_p, inputs) => ({ id: inputs.eventBusName }),
  "aws:sqs/queue:Queue": (physical) => ({
    // With local servers running (startLocalAws().applyEnv()), queue URLs are fauxqs's, so shipped
    // workers reach real queues created under the same names.
    id: queueUrl(physical),
    url: queueUrl(physical),
    arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${physical}`,
  }),
  "aws:sqs/queuePolicy:QueuePolicy": (_p, inputs) => ({ id: inputs.queueUrl }),
  "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": (_p, inputs) => ({ id: inputs.queueUrl }),
  "aws:sns/topic:Topic": (physical) => {
    const arn = `arn:aws:sns:${REGION}:${ACCOUNT}:${physical}`;
    return { id: arn, arn };
  },
  "aws:sns/topicSubscription:TopicSubscription": (_p, inputs, seed) => {
    const arn = `${inputs.topic}:${uuidOf(seed)}`;
    return { id: arn, arn };
  },
  "aws:dynamodb/table:Table": (physical, inputs) => {
    const arn = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${physical}`;
    const stream = inputs.streamEnabled
      ? { streamArn: `${arn}/stream/2026-01-01T00:00:00.000`, streamLabel: "2026-01-01T00:00:00.000" }
      : {};
    return { id: physical, arn, ...stream };
  },
  "aws:lambda/function:Function": (physical) => {
    const arn = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${physical}`;
    return {
      id: physical,
      arn,
      qualifiedArn: `${arn}:$LATEST`,
      invokeArn: `arn:aws:apigateway:${REGION}:lambda:path/2015-03-31/functions/${arn}/invocations`,
    };
  },
  "aws:lambda/permission:Permission": (physical, inputs) => ({ id: inputs.statementId ?? physical }),
  "aws:lambda/eventSourceMapping:EventSourceMapping": (_p, _i, seed) => {
    const uuid = uuidOf(seed);
    return { id: uuid, uuid, arn: `arn:aws:lambda:${REGION}:${ACCOUNT}:event-source-mapping:${uuid}` };
  },
  "aws:apigatewayv2/api:Api": (_p, inputs, seed) => {
    const apiId = alnumOf(seed, 10);
    const scheme = inputs.protocolType === "WEBSOCKET" ? "wss" : "https";
    return {
      id: apiId,
      arn: `arn:aws:apigateway:${REGION}::/apis/${apiId}`,
      apiEndpoint: `${scheme}://${apiId}.execute-api.${REGION}.amazonaws.com`,
      executionArn: `arn:aws:execute-api:${REGION}:${ACCOUNT}:${apiId}`,
    };
  },
  "aws:apigatewayv2/stage:Stage": (physical, inputs) => ({
    id: inputs.name ?? physical,
    arn: `arn:aws:apigateway:${REGION}::/apis/${inputs.apiId}/stages/${inputs.name ?? physical}`,
    executionArn: `arn:aws:execute-api:${REGION}:${ACCOUNT}:${inputs.apiId}/${inputs.name ?? physical}`,
  }),
  "aws:apigatewayv2/route:Route": (_p, _i, seed) => ({ id: alnumOf(seed, 7) }),
  "aws:apigatewayv2/integration:Integration": (_p, _i, seed) => ({ id: alnumOf(seed, 7) }),
  "aws:apigatewayv2/authorizer:Authorizer": (_p, _i, seed) => ({ id: alnumOf(seed, 6) }),
  "aws:apigateway/account:Account": () => ({ id: "api-gateway-account" }),
  "aws:iam/role:Role": (physical, _i, seed) => ({
    id: physical,
    arn: `arn:aws:iam::${ACCOUNT}:role/${physical}`,
    uniqueId: `AROA${hexOf(seed, 17).toUpperCase()}`,
  }),
  "aws:iam/policy:Policy": (physical) => {
    const arn = `arn:aws:iam::${ACCOUNT}:policy/${physical}`;
    return { id: arn, arn };
  },
  "aws:iam/rolePolicy:RolePolicy": (physical, inputs) => ({ id: `${inputs.role}:${physical}` }),
  "aws:cloudwatch/logGroup:LogGroup": (physical) => ({ id: physical, arn: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${physical}` }),
  "aws:cloudwatch/metricAlarm:MetricAlarm": (physical) => ({
    id: physical,
    arn: `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${physical}`,
  }),
  "aws:cloudwatch/dashboard:Dashboard": (physical, inputs) => ({
    id: inputs.dashboardName ?? physical,
    dashboardArn: `arn:aws:cloudwatch::${ACCOUNT}:dashboard/${inputs.dashboardName ?? physical}`,
  }),
  "aws:s3/bucket:Bucket": (physical, inputs) => {
    const bucket = inputs.bucket ?? physical;
    return { id: bucket, bucket, arn: `arn:aws:s3:::${bucket}`, bucketRegionalDomainName: `${bucket}.s3.${REGION}.amazonaws.com` };
  },
  "aws:s3/bucketObjectv2:BucketObjectv2": (_p, inputs, seed) => ({
    id: inputs.key,
    arn: `arn:aws:s3:::${inputs.bucket}/${inputs.key}`,
    versionId: alnumOf(seed, 32),
    etag: hexOf(seed, 32),
  }),
  "aws:s3/bucketVersioning:BucketVersioning": (_p, inputs) => ({ id: inputs.bucket }),
  "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": (_p, inputs) => ({ id: inputs.bucket }),
  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (_p, inputs) => ({ id: inputs.bucket }),
  "aws:s3/bucketPolicy:BucketPolicy": (_p, inputs) => ({ id: inputs.bucket }),
  "aws:scheduler/scheduleGroup:ScheduleGroup": (physical) => ({
    id: physical,
    arn: `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule-group/${physical}`,
  }),
  "aws:scheduler/schedule:Schedule": (physical, inputs) => {
    const group = inputs.groupName ?? "default";
    return { id: `${group}/${physical}`, arn: `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/${group}/${physical}` };
  },
  "aws:sesv2/configurationSet:ConfigurationSet": (physical, inputs) => {
    const name = inputs.configurationSetName ?? physical;
    return { id: name, arn: `arn:aws:ses:${REGION}:${ACCOUNT}:configuration-set/${name}` };
  },
  "aws:sesv2/configurationSetEventDestination:ConfigurationSetEventDestination": (_p, inputs) => ({
    id: `${inputs.configurationSetName}|${inputs.eventDestinationName}`,
  }),
  "aws:sns/topicPolicy:TopicPolicy": (_p, inputs) => ({ id: inputs.arn }),
  "aws:kms/keyPolicy:KeyPolicy": (_p, inputs) => ({ id: inputs.keyId }),
};

/** Resource types the mocks give AWS's outputs for: a graph with any other type fails, so a new type is added here first. */
export const MOCKED_TYPES = Object.keys(AWS_OUTPUTS);

function queueUrl(physical: string): string {
  return process.env.AWS_ENDPOINT_URL_SQS
    ? `${process.env.AWS_ENDPOINT_URL_SQS}/000000000000/${physical}`
    : `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${physical}`;
}

/** A resource's physical name: the one it was given, else Pulumi's auto-name (the logical name, a dash, 7 hex characters). */
function physicalName(type: string, name: string, inputs: Record<string, unknown>): string {
  const given = type === "aws:s3/bucket:Bucket" ? (inputs.bucket ?? inputs.name) : inputs.name;
  return typeof given === "string" ? given : `${name}-${hexOf(`${type}::${name}`, 7)}`;
}

// biome-ignore lint/suspicious/noExplicitAny: a mock's inputs are whatever the resource's args were
function computedState(type: string, name: string, inputs: Record<string, any>): Record<string, unknown> {
  const outputs = AWS_OUTPUTS[type];
  if (!outputs) {
    throw new Error(
      `tidings/testing: no AWS outputs for resource type ${type} (${name}); add its id and ARN formats to AWS_OUTPUTS in testing.ts.`,
    );
  }
  const physical = physicalName(type, name, inputs);
  return { name: physical, ...outputs(physical, inputs, `${type}::${name}`) };
}

export interface MockOptions {
  /**
   * Stack config, keys with their namespace. Objects are passed as JSON, as `pulumi config set --path` stores them.
   * @example config: { "tidings:channels": { websocket: {} }, "tidings:notificationTypes": { "job.progress": {} } }
   */
  config?: Record<string, unknown>;
  /** Config keys that are secrets. @example secrets: ["tidings:tokenSigningSecret"] */
  secrets?: string[];
  /** @default "tidings" */
  project?: string;
  /** @default "test" */
  stack?: string;
}

/**
 * Installs the Pulumi mocks (and `config`, when given), and forgets what earlier tests registered.
 * Returns the list every resource registered from now on is added to.
 */
export function useMocks(options: MockOptions = {}): MockedResource[] {
  recorded.length = 0;
  inlineFunctions.length = 0;
  if (options.config) {
    const config = Object.entries(options.config).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]);
    pulumi.runtime.setAllConfig(Object.fromEntries(config), options.secrets);
  }
  const project = options.project ?? "tidings";
  const stack = options.stack ?? "test";
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        // A component resource has no AWS outputs: its outputs are what it registers.
        if (!args.custom) {
          const urn = `urn:pulumi:${stack}::${project}::${args.type}::${args.name}`;
          recorded.push({ type: args.type, name: args.name, urn, inputs: args.inputs, state: args.inputs });
          return { id: "", state: {} };
        }
        const state = { ...args.inputs, ...computedState(args.type, args.name, args.inputs) };
        const urn = `urn:pulumi:${stack}::${project}::${args.type}::${args.name}`;
        recorded.push({ type: args.type, name: args.name, urn, inputs: args.inputs, state });
        return { id: String(state.id), state };
      },
      call(args) {
        switch (args.token) {
          case "aws:index/getCallerIdentity:getCallerIdentity":
            return { accountId: ACCOUNT, arn: `arn:aws:iam::${ACCOUNT}:user/test`, userId: "test" };
          case "aws:index/getRegion:getRegion":
            return { name: REGION, region: REGION, id: REGION };
          case "aws:index/getPartition:getPartition":
            return { partition: "aws", dnsSuffix: "amazonaws.com" };
          default:
            return args.inputs;
        }
      },
    },
    project,
    stack,
    false,
  );
  return recorded;
}

/** Resolves an Output under mocks. */
export function outputValue<T>(output: pulumi.Input<T>): Promise<pulumi.Unwrap<T>> {
  return new Promise((resolve) => pulumi.output(output).apply((v) => resolve(v as pulumi.Unwrap<T>)));
}

/**
 * Waits until every resource registration has reached the mocks. Registrations wait for their inputs
 * (an InlineFunction's archive waits for its code to be serialized and bundled), so follow Pulumi's own chain of pending
 * RPCs (`settings.rpcDone`, what the engine waits on before exiting) until no new one was added.
 */
export async function settle(): Promise<void> {
  // Pulumi keeps its pending-RPC chain in its run-time state, which it does not export.
  const { getStore } = require("@pulumi/pulumi/runtime/state");
  for (;;) {
    const pending = getStore().settings.rpcDone;
    await pending;
    await new Promise((r) => setImmediate(r));
    if (getStore().settings.rpcDone === pending) return;
  }
}

/** The resources of one type, e.g. `ofType(resources, "aws:lambda/function:Function")`. */
export function ofType(resources: MockedResource[], type: string): MockedResource[] {
  return resources.filter((r) => r.type === type);
}

/** An inline Lambda's code as `pulumi up` ships it. */
export interface ShippedCode {
  /** The bundle: the archive's only file, `index.js`, with every package it requires inlined but the AWS SDK. */
  text: string;
  /** The export Lambda calls (`index.<exportName>`). */
  exportName: string;
  /** The function's `handler` setting, e.g. `index.handler`. */
  handler: string;
  /** The archive's files by name: `{ "index.js": text }`. Write them to a folder to run the function as Lambda would. */
  files: Record<string, string>;
  /** The archive's bytes before zipping. */
  bytes: number;
  /** The packages the bundle leaves to the Lambda runtime (`@aws-sdk/*`, `@smithy/*`). */
  external: string[];
  /** The module Pulumi serialized from the factory, before bundling. */
  serialized: string;
}

/**
 * An inline Lambda's code as its archive ships it: the same bundle the function's `code` holds (built
 * once per function). Every inline Lambda Tidings created since `useMocks()` is in `inlineFunctions`.
 *
 * @example
 * for (const fn of inlineFunctions) {
 *   const code = await shippedCode(fn);
 *   for (const [file, text] of Object.entries(code.files)) fs.writeFileSync(path.join(dir, file), text);
 *   const handler = require(path.join(dir, "index.js"))[code.exportName];
 * }
 */
export async function shippedCode(fn: InlineFunction<never, unknown>): Promise<ShippedCode> {
  const bundle = await fn.bundle;
  const files = { [BUNDLE_FILE]: bundle.text };
  return {
    text: bundle.text,
    exportName: bundle.exportName,
    handler: `${BUNDLE_FILE.replace(/\.js$/, "")}.${bundle.exportName}`,
    files,
    bytes: Object.values(files).reduce((sum, text) => sum + Buffer.byteLength(text), 0),
    external: [...RUNTIME_PROVIDED],
    serialized: bundle.serialized,
  };
}

export { inlineFunctions };
export type { LocalAws, LocalAwsOptions };

/**
 * The local mode's AWS-compatible servers on 127.0.0.1 (dynalite, fauxqs, aws-ses-v2-local): the
 * package's optional peer dependencies, installed with `npm install --save-dev dynalite fauxqs
 * aws-ses-v2-local ws yaml`. `applyEnv()` points AWS SDK clients at them; `createTables` makes tables
 * with the layouts of the stack's, under the names the shipped code was given.
 *
 * @example
 * const aws = await startLocalAws();
 * aws.applyEnv();
 * await aws.createTables(await outputValue(tidings.outputs.tables));
 * // … run shippedCode(tidings.channels.teams.worker) …
 * await aws.stop();
 */
export function startLocalAws(options?: LocalAwsOptions): Promise<LocalAws> {
  // Required here, not imported: the servers are needed only by the tests that start them.
  return (require("./local/aws") as typeof import("./local/aws")).startLocalAws(options);
}

/** A notification log of the local servers (after `startLocalAws().applyEnv()`). */
function localLog(table: string) {
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
  return makeNotificationLog({ ddb, table });
}

/**
 * Records deliveries in the notification log `table` as the notification service does before it puts
 * them on the bus: a channel worker claims each one there, and sends nothing the service did not accept.
 */
export async function acceptDeliveries(table: string, deliveries: ChannelDelivery[]): Promise<void> {
  const log = localLog(table);
  for (const delivery of deliveries) {
    const { eventId, channel, userId, type } = delivery;
    await log.create({ eventId, channel, userId, type, status: "created", delivery, digest: deliveryDigest(delivery) });
  }
}

/** What the worker recorded for one delivery: `sent`, `error` (with `reason`), `pending`… */
export async function deliveryStatus(table: string, eventId: string, channel: string): Promise<{ status?: string; reason?: string }> {
  const entry = await localLog(table).get(eventId, channel);
  return { status: entry?.status, reason: entry?.reason };
}

/**
 * Deliveries as SQS hands them to a channel worker: each the EventBridge event the notification service
 * put on the bus (`detail` = the delivery), its message id `<eventId>/<channel>`, received once.
 */
export function sqsEventOf(deliveries: ChannelDelivery[], receiveCount = 1): SqsEvent {
  return {
    Records: deliveries.map((delivery) => ({
      messageId: `${delivery.eventId}/${delivery.channel}`,
      body: JSON.stringify({
        id: delivery.eventId,
        source: EVENT_SOURCE,
        "detail-type": detailTypeFor(delivery.channel),
        detail: delivery,
      }),
      attributes: { ApproximateReceiveCount: String(receiveCount) },
    })),
  };
}
