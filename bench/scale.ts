/**
 * Part 3, program scale: how the time to evaluate the stack under mocks grows with the number of
 * channels. Extra channels are custom names served by a provider Tidings ships (Slack webhooks named
 * `slack-2`, `slack-3`, …), added to the dev config's enabled channels.
 */
import { enabledChannels, parseTidingsConfig } from "../runtime/config";
import { formatNumber, formatRatio, median, now, type PartResult } from "./lib";
import { buildStackUnderMocks, devStackConfig } from "./stackUnderMocks";

export interface ProgramScaleOptions {
  /** Enabled channels per size; the first is the base of the ratios. */
  channelCounts: number[];
  /** Measured builds per size (after one warm-up build); the median is reported. */
  repeats: number;
}

/** The dev config with extra webhook channels until `count` channels are enabled. */
export function configWithChannels(count: number): Record<string, any> {
  const raw = devStackConfig();
  const enabled = enabledChannels(parseTidingsConfig(raw)).length;
  if (count < enabled) throw new Error(`the dev config already enables ${enabled} channels; ask for at least that many, not ${count}`);
  const template = raw.channels.slack ?? { ratePerSecond: 1, maxConcurrency: 2 };
  for (let i = 2; i < 2 + count - enabled; i++) raw.channels[`slack-${i}`] = { ...template, enabled: true, provider: "webhook" };
  return raw;
}

/** Builds the stack with the extra channels served by the shipped Slack webhook provider. */
async function build(raw: Record<string, any>) {
  return buildStackUnderMocks(raw, { webhook: { type: "slack-webhook" } });
}

export async function runProgramScale(options: ProgramScaleOptions, progress: (line: string) => void): Promise<PartResult> {
  progress("warm-up build");
  await build(configWithChannels(options.channelCounts[0]));
  const sizes: { channels: number; ms: number[]; resources: number; functions: number }[] = [];
  for (const count of options.channelCounts) {
    const raw = configWithChannels(count);
    const size = { channels: count, ms: [] as number[], resources: 0, functions: 0 };
    for (let i = 0; i < options.repeats; i++) {
      const started = now();
      const { resources, functions } = await build(raw);
      size.ms.push(now() - started);
      size.resources = resources.length;
      size.functions = functions.length;
    }
    progress(`${count} channels: ${formatNumber(median(size.ms))} ms, ${size.resources} resources`);
    sizes.push(size);
  }
  const base = sizes[0];
  return {
    title: "Program scale: evaluating the stack under mocks",
    tables: [
      {
        headers: [
          "enabled channels",
          `ms (median of ${options.repeats})`,
          "÷ base ms",
          "resources",
          "÷ base resources",
          "ms per resource",
          "inline Lambdas",
        ],
        rows: sizes.map((s) => [
          String(s.channels),
          formatNumber(median(s.ms)),
          formatRatio(median(s.ms) / median(base.ms)),
          String(s.resources),
          formatRatio(s.resources / base.resources),
          (median(s.ms) / s.resources).toFixed(2),
          String(s.functions),
        ]),
      },
    ],
    notes: [
      `Base: ${base.channels} channels. Channels beyond the dev config's enabled ones are copies of its slack channel named \`slack-2\`, \`slack-3\`, … with \`provider: webhook\`.`,
      "Time: `useMocks()` + config validation + `createTidingsStack` until every resource registration has reached the mocks (`settle()` follows Pulumi's pending RPCs, including archive serialization), after one warm-up build. Pulumi mocks answer every resource at once, so this is the program's own cost, not a deployment's.",
      "If ms grows like resources (ratios equal), evaluation is linear in the graph size.",
    ],
  };
}
