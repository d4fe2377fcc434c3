/**
 * The parts of `npm run bench`, each run by bench/partProcess.ts in a process of its own (see bench/run.ts).
 */
import type { PartResult } from "./lib";

export interface Part {
  name: string;
  summary: string;
  /** `measured` holds what earlier parts of this run reported for later ones. */
  run(quick: boolean, progress: (line: string) => void, measured: Record<string, number>): Promise<PartResult>;
}

export const PARTS: Part[] = [
  {
    name: "calls",
    summary: "AWS calls per 4-channel notification, per command, and the producer's sequential round trips: before vs. after",
    async run(quick, progress) {
      const { runAwsCalls } = require("./awsCalls") as typeof import("./awsCalls");
      return runAwsCalls({ repeats: quick ? 1 : 3, latencyMs: 50 }, progress);
    },
  },
  {
    name: "fanout",
    summary: "one notification to a user with thousands of open WebSocket connections: ours vs. seed vs. raw ws",
    async run(quick, progress) {
      const { runFanOut } = require("./fanout") as typeof import("./fanout");
      return runFanOut(
        quick
          ? { connections: 500, otherUsersRows: 500, repeats: 1, concurrencies: [50, 10, 100], roundTripMs: 5, runTimeoutMs: 30_000 }
          : { connections: 5000, otherUsersRows: 5000, repeats: 3, concurrencies: [50, 10, 100], roundTripMs: 5, runTimeoutMs: 90_000 },
        progress,
      );
    },
  },
  {
    name: "shipped",
    summary: "archive bytes and cold require time of every inline Lambda's bundle, against what was shipped before bundling",
    async run(quick, progress) {
      const { runShippedCode } = require("./shipped") as typeof import("./shipped");
      return runShippedCode({ coldRequireRepeats: quick ? 1 : 5 }, progress);
    },
  },
  {
    name: "pipeline",
    summary: "sustained producer load through the local mode, delivered at the sinks",
    async run(quick, progress, measured) {
      const { runPipeline } = require("./pipeline") as typeof import("./pipeline");
      return runPipeline(
        quick
          ? { durationMs: 10_000, users: 20, concurrentRequests: 8, fanOutLimitPerSecond: measured.fanOutLimitPerSecond }
          : { durationMs: 30_000, users: 50, concurrentRequests: 16, fanOutLimitPerSecond: measured.fanOutLimitPerSecond },
        progress,
      );
    },
  },
  {
    name: "cost",
    summary: "what a notification costs on AWS per million, from the calls, capacity, traffic, durations and log bytes counted",
    async run(quick, progress) {
      const { runCost } = require("./cost") as typeof import("./cost");
      return runCost({ notifications: quick ? 5 : 20 }, progress);
    },
  },
  {
    name: "feed",
    summary: "the inbox's page, unread count and mark-all-read on a 100-item feed vs. a 10,000-item one: time and capacity units",
    async run(quick, progress) {
      const { runFeedScale } = require("./feedScale") as typeof import("./feedScale");
      return runFeedScale({ sizes: quick ? [100, 1000] : [100, 10_000] }, progress);
    },
  },
  {
    name: "topics",
    summary:
      "one notification to a topic of 10,000 subscribers: time to the last delivery, deliveries per second, calls and cost per 1,000",
    async run(quick, progress) {
      const { runTopicFanOut } = require("./topicFanOut") as typeof import("./topicFanOut");
      return runTopicFanOut({ subscribers: quick ? 1000 : 10_000 }, progress);
    },
  },
  {
    name: "scale",
    summary: "time to evaluate the stack under mocks with 5, 20 and 50 channels",
    async run(quick, progress) {
      const { runProgramScale } = require("./scale") as typeof import("./scale");
      return runProgramScale({ channelCounts: [5, 20, 50], repeats: quick ? 1 : 3 }, progress);
    },
  },
];
