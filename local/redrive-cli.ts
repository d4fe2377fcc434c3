/**
 * `npm run redrive -- <channel> [--rule-dlq] [--local]`: moves a channel's dead-lettered messages back to
 * its queue. `--rule-dlq` takes the rule's DLQ instead (events EventBridge could not put on the queue)
 * and sends each event to the queue, as the rule target would have. `--schedules` (no channel) hands the
 * schedules DLQ's fires (scheduled notifications the Scheduler could not hand the sender) to the sender:
 * a Lambda Invoke of `scheduling.senderArn`, or locally the running `npm start`'s `POST /ops/redrive`.
 *
 *   AWS:   queue URLs from `pulumi stack output --json` (channels.<name>.queueUrl / deadLetterQueueUrl),
 *          then an SQS message move task. `--stack <name>` picks the stack; `--outputs <file>` reads a
 *          saved `pulumi stack output --json` instead of running pulumi.
 *   local: queue URLs from the running `npm start`'s state file (.tidings-local.json in the repo root,
 *          or `--state <file>`), then receive → send → delete against the local SQS.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { SQSClient } from "@aws-sdk/client-sqs";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { redrive, redriveRuleDeadLetters, redriveScheduleFires, type ChannelQueues, type RedriveResult } from "../runtime/redrive";

export const LOCAL_STATE_FILE = path.join(__dirname, "..", ".tidings-local.json");

const USAGE =
  "usage: npm run redrive -- <channel> [--rule-dlq] | --schedules  [--local] [--state <file>] [--stack <name>] [--outputs <file>]";

export interface RedriveCliArgs {
  /** The channel whose DLQ is redriven; absent with `schedules`. */
  channel?: string;
  /** The schedules' DLQ instead: its fires go to the scheduled sender. */
  schedules?: true;
  local: boolean;
  /** The rule DLQ (EventBridge → queue failures) instead of the queue's DLQ. */
  ruleDlq?: boolean;
  stack?: string;
  outputsFile?: string;
  stateFile?: string;
}

/** What `--help` prints: the usage line and what each option does. */
export const HELP = [
  USAGE,
  "",
  "Moves a channel's dead-lettered messages back to its queue once the cause is fixed.",
  "  --rule-dlq        the rule's DLQ instead (events EventBridge could not put on the queue)",
  "  --schedules       no channel: hand the schedules DLQ's fires to the scheduled sender again",
  "  --local           against the running `npm start` (its state file, .tidings-local.json)",
  "  --state <file>    another local state file",
  "  --stack <name>    the Pulumi stack whose outputs name the queues (AWS)",
  "  --outputs <file>  a saved `pulumi stack output --json` instead of running pulumi",
].join("\n");

/** Parses the CLI arguments (node:util parseArgs); throws with the usage line for anything it does not understand. */
export function parseRedriveArgs(argv: string[]): RedriveCliArgs | "help" {
  let parsed: ReturnType<typeof parseRedriveOptions>;
  try {
    parsed = parseRedriveOptions(argv);
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    const option = /'(-[^' ]+)/.exec(message)?.[1];
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") throw new Error(`Unknown option ${option}.\n${USAGE}`);
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") throw new Error(`${option} needs a value.\n${USAGE}`);
    throw new Error(`${message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) return "help";
  for (const [name, value] of Object.entries(values)) {
    if (typeof value === "string" && value.startsWith("--")) throw new Error(`--${name} needs a value.\n${USAGE}`);
  }
  if (values.schedules) {
    if (positionals.length || values["rule-dlq"]) throw new Error(`--schedules takes no channel and no --rule-dlq.\n${USAGE}`);
  } else if (positionals.length !== 1) throw new Error(`Give exactly one channel name (e.g. email), or --schedules.\n${USAGE}`);
  if (values.local && (values.stack || values.outputs))
    throw new Error(`--local reads the local state file; --stack and --outputs are for AWS.\n${USAGE}`);
  return {
    ...(values.schedules ? { schedules: true as const } : { channel: positionals[0] }),
    local: values.local ?? false,
    ...(values["rule-dlq"] ? { ruleDlq: true } : {}),
    ...(values.stack ? { stack: values.stack } : {}),
    ...(values.outputs ? { outputsFile: values.outputs } : {}),
    ...(values.state ? { stateFile: values.state } : {}),
  };
}

function parseRedriveOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      local: { type: "boolean" },
      "rule-dlq": { type: "boolean" },
      schedules: { type: "boolean" },
      stack: { type: "string" },
      outputs: { type: "string" },
      state: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/** The channel's queues from stack outputs or local state (both hold `channels.<name>`). */
export function channelQueuesFrom(source: unknown, channel: string, where: string): ChannelQueues {
  const channels = (source as { channels?: Record<string, Partial<ChannelQueues>> })?.channels;
  if (!channels || typeof channels !== "object") throw new Error(`${where} has no "channels" entry.`);
  const queues = channels[channel];
  if (!queues) {
    const known = Object.keys(channels);
    throw new Error(`No channel "${channel}" in ${where}; channels there: ${known.length ? known.join(", ") : "none"}.`);
  }
  if (!queues.queueUrl || !queues.deadLetterQueueUrl) {
    throw new Error(`Channel "${channel}" in ${where} lacks queueUrl or deadLetterQueueUrl.`);
  }
  return {
    queueUrl: queues.queueUrl,
    deadLetterQueueUrl: queues.deadLetterQueueUrl,
    queueArn: queues.queueArn,
    deadLetterQueueArn: queues.deadLetterQueueArn,
    ruleDeadLetterQueueUrl: queues.ruleDeadLetterQueueUrl,
  };
}

function readJson(file: string, missing: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new Error(missing);
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON.`);
  }
}

function stackOutputs(stack: string | undefined): unknown {
  const args = ["stack", "output", "--json", ...(stack ? ["--stack", stack] : [])];
  let text: string;
  try {
    text = execFileSync("pulumi", args, { cwd: path.join(__dirname, ".."), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") {
      throw new Error(
        "The pulumi CLI is not on PATH: install it, or save `pulumi stack output --json` to a file and pass --outputs <file>, or use --local.",
      );
    }
    throw new Error(`pulumi ${args.join(" ")} failed: ${(e.stderr ?? e.message).trim()}`);
  }
  return JSON.parse(text);
}

/** Runs the command; returns the process exit code. */
export async function runRedriveCli(argv: string[], print: (line: string) => void = console.log): Promise<number> {
  let args: RedriveCliArgs;
  try {
    const parsed = parseRedriveArgs(argv);
    if (parsed === "help") {
      print(HELP);
      return 0;
    }
    args = parsed;
  } catch (error) {
    print((error as Error).message);
    return 2;
  }
  if (args.schedules) return redriveSchedulesCli(args, print);
  const channel = args.channel!;
  let sqs: SQSClient | undefined;
  let restoreDns: (() => void) | undefined;
  try {
    let queues: ChannelQueues;
    if (args.local) {
      const stateFile = args.stateFile ?? LOCAL_STATE_FILE;
      const state = readJson(stateFile, `No local Tidings state at ${stateFile}: start the local mode with \`npm start\` first.`) as {
        aws?: { sqs?: string };
        region?: string;
      };
      queues = channelQueuesFrom(state, channel, stateFile);
      // Local queue URLs name sqs.<region>.localhost: resolve that to loopback in this process.
      const { interceptLocalhostDns } = await import("fauxqs");
      restoreDns = interceptLocalhostDns();
      const endpoint = state.aws?.sqs ?? new URL(queues.queueUrl).origin;
      const region = /sqs\.([a-z0-9-]+)\./.exec(queues.queueUrl)?.[1] ?? "us-east-1";
      sqs = new SQSClient({ endpoint, region, credentials: { accessKeyId: "local", secretAccessKey: "local" } });
    } else {
      const outputs = args.outputsFile ? readJson(args.outputsFile, `No outputs file at ${args.outputsFile}.`) : stackOutputs(args.stack);
      queues = channelQueuesFrom(outputs, channel, args.outputsFile ?? "the stack outputs");
      sqs = new SQSClient({});
    }
    if (args.ruleDlq) {
      if (!queues.ruleDeadLetterQueueUrl) throw new Error(`Channel "${channel}" has no ruleDeadLetterQueueUrl in its outputs.`);
      const result = await redriveRuleDeadLetters(sqs, {
        queueUrl: queues.queueUrl,
        ruleDeadLetterQueueUrl: queues.ruleDeadLetterQueueUrl,
      });
      print(describeResult(channel, { ...queues, deadLetterQueueUrl: queues.ruleDeadLetterQueueUrl }, result));
      return result.failed.length > 0 ? 1 : 0;
    }
    const result = await redrive(sqs, queues, { method: args.local ? "copy" : "auto" });
    print(describeResult(channel, queues, result));
    return result.method === "copy" && result.failed.length > 0 ? 1 : 0;
  } catch (error) {
    print(`redrive ${channel}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    sqs?.destroy();
    restoreDns?.();
  }
}

/**
 * `--schedules`: in AWS, each fire in `scheduling.deadLetterQueueUrl` is invoked on `scheduling.senderArn`
 * (RequestResponse; a function error keeps it); locally, the running local mode's ops route does the same.
 */
async function redriveSchedulesCli(args: RedriveCliArgs, print: (line: string) => void): Promise<number> {
  try {
    let result: { moved: number; failed: { messageId?: string; reason: string }[] };
    if (args.local) {
      const stateFile = args.stateFile ?? LOCAL_STATE_FILE;
      const state = readJson(stateFile, `No local Tidings state at ${stateFile}: start the local mode with \`npm start\` first.`) as {
        endpoints?: { api?: string };
      };
      if (!state.endpoints?.api) throw new Error(`${stateFile} names no local API.`);
      const answer = await fetch(`${state.endpoints.api}/ops/redrive`, { method: "POST", body: JSON.stringify({ dlq: "schedules" }) });
      const body = (await answer.json()) as { moved?: number; failed?: { messageId?: string; reason: string }[]; message?: string };
      if (!answer.ok) throw new Error(body.message ?? `the local ops route answered ${answer.status}`);
      result = { moved: body.moved ?? 0, failed: body.failed ?? [] };
    } else {
      const outputs = (
        args.outputsFile ? readJson(args.outputsFile, `No outputs file at ${args.outputsFile}.`) : stackOutputs(args.stack)
      ) as {
        scheduling?: { deadLetterQueueUrl?: string; senderArn?: string };
      };
      const { deadLetterQueueUrl, senderArn } = outputs?.scheduling ?? {};
      if (!deadLetterQueueUrl || !senderArn) throw new Error("The stack outputs have no scheduling (tidings:scheduling.enabled is off?).");
      const sqs = new SQSClient({});
      const lambda = new LambdaClient({});
      try {
        result = await redriveScheduleFires(sqs, deadLetterQueueUrl, async (body) => {
          const answer = await lambda.send(new InvokeCommand({ FunctionName: senderArn, Payload: new TextEncoder().encode(body) }));
          if (answer.FunctionError)
            throw new Error(`the sender failed again: ${new TextDecoder().decode(answer.Payload ?? new Uint8Array())}`);
        });
      } finally {
        sqs.destroy();
        lambda.destroy();
      }
    }
    print(`Handed ${result.moved} fire(s) from the schedules DLQ to the scheduled sender.`);
    for (const f of result.failed) print(`  not handed: ${f.messageId ?? "?"}: ${f.reason}`);
    return result.failed.length > 0 ? 1 : 0;
  } catch (error) {
    print(`redrive --schedules: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

function describeResult(channel: string, queues: ChannelQueues, result: RedriveResult): string {
  if (result.method === "move-task") {
    const about =
      result.approximateNumberOfMessagesToMove === undefined
        ? ""
        : ` (about ${result.approximateNumberOfMessagesToMove} messages, ${result.status})`;
    return [
      `Started an SQS message move task for "${channel}"${about}: ${queues.deadLetterQueueUrl} → ${queues.queueUrl}.`,
      `Task handle: ${result.taskHandle}`,
      `Follow it with: aws sqs list-message-move-tasks --source-arn ${result.sourceArn}`,
    ].join("\n");
  }
  const lines = [`Moved ${result.moved} message(s) of "${channel}" from ${queues.deadLetterQueueUrl} back to ${queues.queueUrl}.`];
  for (const f of result.failed) lines.push(`  not moved: ${f.messageId}: ${f.reason}`);
  return lines.join("\n");
}

if (require.main === module) {
  runRedriveCli(process.argv.slice(2)).then((code) => process.exit(code));
}
