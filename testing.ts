/**
 * `tidings/testing`: unit tests of a stack that composes Tidings, without a Pulumi CLI or an AWS account.
 *
 * - `useMocks(options?)` installs Pulumi mocks that record every resource with its inputs and give it the
 *   computed outputs real providers would (arn, name, url, id…), and optionally stack config.
 * - `settle()` waits until every registration has reached the mocks.
 * - `shippedCode(fn)` gives an inline Lambda's code as `pulumi up` ships it: the bundle that is its
 *   archive's only file, so a test can run it.
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

function computedState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const service = type.split(":")[1] ?? "mock";
  const physical = inputs.name ?? `${name}-${Math.abs(hash(name)).toString(16).slice(0, 7)}`;
  const arn = `arn:aws:${service}:${REGION}:${ACCOUNT}:${physical}`;
  const state: Record<string, unknown> = { name: physical, arn, id: `${physical}-id` };
  switch (type) {
    case "aws:sqs/queue:Queue":
      // With local servers running (startLocalAws().applyEnv()), queue URLs are fauxqs's, so shipped
      // workers reach real queues created under the same names.
      state.url = process.env.AWS_ENDPOINT_URL_SQS
        ? `${process.env.AWS_ENDPOINT_URL_SQS}/000000000000/${physical}`
        : `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${physical}`;
      state.arn = `arn:aws:sqs:${REGION}:${ACCOUNT}:${physical}`;
      break;
    case "aws:dynamodb/table:Table":
      state.arn = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${physical}`;
      break;
    case "aws:apigatewayv2/api:Api":
      state.apiEndpoint =
        inputs.protocolType === "WEBSOCKET"
          ? `wss://${physical}.execute-api.${REGION}.amazonaws.com`
          : `https://${physical}.execute-api.${REGION}.amazonaws.com`;
      state.executionArn = `arn:aws:execute-api:${REGION}:${ACCOUNT}:${physical}`;
      break;
    case "aws:lambda/function:Function":
      state.arn = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${physical}`;
      state.invokeArn = `arn:aws:apigateway:${REGION}:lambda:path/2015-03-31/functions/${state.arn}/invocations`;
      break;
    case "aws:s3/bucket:Bucket":
    case "aws:s3/bucketV2:BucketV2":
      state.bucket = inputs.bucket ?? physical;
      state.arn = `arn:aws:s3:::${state.bucket}`;
      break;
    case "aws:cloudwatch/logGroup:LogGroup":
      state.arn = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${physical}`;
      break;
  }
  return state;
}

function hash(s: string): number {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
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
export function outputValue<T>(output: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(output).apply((v) => resolve(v as T)));
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
