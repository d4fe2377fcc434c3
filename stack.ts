/**
 * The program's side of the stack: reads and validates the `tidings:` stack config and runs the
 * composition (components/compose.ts) at the stack's root. `index.ts` is the program.
 */
import * as pulumi from "@pulumi/pulumi";
import type { TidingsStackInputs } from "./components/compose";
import { parseTidingsConfig, tidingsKeys } from "./runtime/config";

export { createTidingsStack, type SharedChannelArgs, type TidingsStackInputs } from "./components/compose";

/**
 * Reads every `tidings:` key of the stack config (so an unknown key is reported, not ignored) and
 * validates it; the signing secret is read as a Pulumi secret and never enters the plain config.
 */
export function readStackConfig(): TidingsStackInputs {
  const all = Object.fromEntries(Object.entries(pulumi.runtime.allConfig()).map(([key, value]) => [key, parseConfigValue(value)]));
  return {
    // Types may name channels added in code: createTidingsStack checks them once those are known.
    config: parseTidingsConfig(tidingsKeys(all), { channelsAddedInCode: true }),
    tokenSigningSecret: new pulumi.Config("tidings").requireSecret("tokenSigningSecret"),
  };
}

function parseConfigValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
