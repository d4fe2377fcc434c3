/**
 * A provider written as any Lambda function, in any language: the worker invokes it once per delivery
 * (RequestResponse) with a `LambdaProviderRequest` and reads a `LambdaProviderAnswer` back. The
 * contract is documented in README.md ("A provider as a Lambda function") and asyncapi.yaml.
 *
 * The function answers `sent`, `retryable` (SQS retries, then the fallback, then the DLQ) or
 * `permanent` (logged as `error`, not retried). A function error, a timeout, throttling or an answer
 * that does not follow the contract is retryable: the message is kept, and after maxReceiveCount it
 * waits in the channel's DLQ until the function is fixed and the DLQ is redriven.
 */
import { InvokeCommand, type InvokeCommandOutput, type LambdaClient } from "@aws-sdk/client-lambda";
import type { ChannelDelivery, Provider, ProviderResult } from "../contracts";
import { classifyError, safeReason } from "./errors";

/** Version of the request shape; bumped only for a change a function must know about. */
export const LAMBDA_PROVIDER_CONTRACT_VERSION = 1;

/** What the function receives: one delivery, with the address for its channel. */
export interface LambdaProviderRequest {
  version: 1;
  delivery: ChannelDelivery;
}

/** What the function returns (its JSON result). */
export type LambdaProviderAnswer =
  | { outcome: "sent"; providerMessageId?: string }
  | { outcome: "retryable"; reason: string }
  /** `optedOut`: the recipient opted out at the carrier: the delivery ends `skipped`, not `error`. */
  | { outcome: "permanent"; reason: string; optedOut?: true };

export interface LambdaProviderDeps {
  /** Invokes functions; in the local mode its endpoint is the local invoke server. */
  lambda: LambdaClient;
  /** ARN (or name) of the function that sends. */
  functionArn: string;
  /** Shown in logs and the notification log. @default "lambda" */
  name?: string;
}

/** Reads a function's answer; anything off-contract is retryable with a reason saying what was wrong. */
export function parseLambdaAnswer(text: string): ProviderResult {
  let answer: { outcome?: unknown; reason?: unknown; providerMessageId?: unknown; optedOut?: unknown };
  try {
    answer = JSON.parse(text) ?? {};
  } catch {
    return { outcome: "retryable", reason: "provider function answered with something that is not JSON" };
  }
  const outcome = answer?.outcome;
  if (outcome === "sent") {
    const id = answer.providerMessageId;
    return typeof id === "string" && id !== "" ? { outcome: "sent", providerMessageId: id.slice(0, 256) } : { outcome: "sent" };
  }
  if (outcome === "retryable" || outcome === "permanent") {
    const reason = typeof answer.reason === "string" && answer.reason !== "" ? answer.reason : `provider function said ${outcome}`;
    if (outcome === "permanent" && answer.optedOut === true) return { outcome, reason: safeReason(reason), optedOut: true };
    return { outcome, reason: safeReason(reason) };
  }
  return {
    outcome: "retryable",
    reason: 'provider function answer must be {"outcome": "sent" | "retryable" | "permanent", …}',
  };
}

export function makeLambdaProvider(deps: LambdaProviderDeps): Provider {
  if (!deps.functionArn) throw new Error("makeLambdaProvider: `functionArn` (the provider function) is required");
  return {
    name: deps.name ?? "lambda",
    async send(delivery: ChannelDelivery): Promise<ProviderResult> {
      const request: LambdaProviderRequest = { version: LAMBDA_PROVIDER_CONTRACT_VERSION, delivery };
      let result: InvokeCommandOutput;
      try {
        result = await deps.lambda.send(
          new InvokeCommand({
            FunctionName: deps.functionArn,
            InvocationType: "RequestResponse",
            Payload: new TextEncoder().encode(JSON.stringify(request)),
          }),
        );
      } catch (error) {
        // Even "function not found" or "access denied" is retryable: a wrong ARN or policy is fixed in
        // the stack, and the messages wait in the DLQ for a redrive instead of ending as `error`.
        return { outcome: "retryable", reason: classifyError(error, "Lambda Invoke").reason };
      }
      const text = result.Payload ? new TextDecoder().decode(result.Payload) : "";
      if (result.FunctionError) {
        let message = "";
        try {
          message = JSON.parse(text)?.errorMessage ?? "";
        } catch {}
        return { outcome: "retryable", reason: safeReason(`provider function failed (${result.FunctionError}): ${message}`) };
      }
      return parseLambdaAnswer(text);
    },
  };
}
