/**
 * Builds the Tidings stack under Pulumi mocks from Pulumi.dev.yaml (optionally edited), for the parts
 * that measure the program rather than the running system.
 */
import * as pulumi from "@pulumi/pulumi";
import { inlineFunctions } from "../components/InlineFunction";
import { readStackFile } from "../local/stackConfig";
import { parseTidingsConfig } from "../runtime/config";
import type { ChannelProvider } from "../components/providers";
import { createTidingsStack, type TidingsStackInputs } from "../stack";
import { settle, useMocks } from "../tests/helpers/mocks";

/** A throwaway signing secret: under mocks nothing is deployed or shipped. */
const BENCH_SIGNING_SECRET = "bench-signing-secret-not-used-anywhere-0123456789";

export function devStackConfig(): Record<string, any> {
  return readStackFile();
}

/**
 * `customProviders` serve channels whose names Tidings does not know (scale adds `slack-2`, … with the
 * shipped webhook provider); the stack must pass them on to `providerFromConfig`.
 */
export async function buildStackUnderMocks(raw: Record<string, any> = devStackConfig(), customProviders?: Record<string, ChannelProvider>) {
  const resources = useMocks();
  const inputs: TidingsStackInputs = {
    config: parseTidingsConfig(raw),
    tokenSigningSecret: pulumi.secret(BENCH_SIGNING_SECRET),
    ...(customProviders ? { customProviders } : {}),
  };
  const stack = createTidingsStack(inputs);
  // Every registration, including those waiting for a Lambda's archive (Pulumi's own pending-RPC chain).
  await settle();
  return { stack, resources: [...resources], functions: [...inlineFunctions] };
}
