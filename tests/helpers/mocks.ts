/**
 * Pulumi mocks for graph tests: every resource the program registers is recorded with its inputs, and
 * given the computed outputs (arn, name, url, id) real providers would return.
 */
import * as pulumi from "@pulumi/pulumi";
import { inlineFunctions } from "../../components/InlineFunction";

export interface MockedResource {
  type: string;
  name: string;
  urn: string;
  inputs: any;
  state: any;
}

export const ACCOUNT = "123456789012";
export const REGION = "us-east-1";

const recorded: MockedResource[] = [];

function computedState(type: string, name: string, inputs: any): Record<string, unknown> {
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

/** Installs the mocks (once per process) and forgets what earlier tests registered. */
export function useMocks(): MockedResource[] {
  recorded.length = 0;
  inlineFunctions.length = 0;
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        const state = { ...args.inputs, ...computedState(args.type, args.name, args.inputs) };
        const urn = `urn:pulumi:test::tidings::${args.type}::${args.name}`;
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
    "tidings",
    "test",
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
 * (a CallbackFunction's archive takes a while to serialize), so follow Pulumi's own chain of pending
 * RPCs (`settings.rpcDone`, what the engine waits on before exiting) until no new one was added.
 */
export async function settle(): Promise<void> {
  const { getStore } = require("@pulumi/pulumi/runtime/state");
  for (;;) {
    const pending = getStore().settings.rpcDone;
    await pending;
    await new Promise((r) => setImmediate(r));
    if (getStore().settings.rpcDone === pending) return;
  }
}

export function ofType(resources: MockedResource[], type: string): MockedResource[] {
  return resources.filter((r) => r.type === type);
}
