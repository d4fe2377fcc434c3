/**
 * Readable console lines for `npm start`: each decision the handlers log (runtime/log.ts) becomes one
 * line telling where a notification is on its path (accepted → queued → sent / retried / dead-lettered /
 * skipped), coloured when the output is a terminal and plain otherwise.
 *
 * @example
 * const logger = makeConsoleLogger();            // a DecisionLogger for the handlers
 * logger({ component: "worker", outcome: "sent", eventId: "e1", userId: "alice", channel: "email", provider: "ses" });
 * // 10:15:02  sent           email      alice         e1  via ses
 */
import { styleText } from "node:util";
import { type Decision, type DecisionLogger, type LogComponent, OUTCOME, type OutcomeOf } from "../runtime/log";
import type { LocalTidings } from "./tidings";

type Tone = "good" | "info" | "warn" | "bad" | "quiet";

/** Where one (component, outcome) puts the notification on its path, and how it reads. */
interface Stage {
  label: string;
  tone: Tone;
}

const { notify, eventbridge, worker } = OUTCOME;
const STAGES: { [C in LogComponent]?: Partial<Record<Extract<OutcomeOf<C>, string>, Stage>> } = {
  notify: {
    [notify.queued]: { label: "accepted", tone: "info" },
    [notify.skipped]: { label: "skipped", tone: "quiet" },
    [notify.duplicate]: { label: "skipped", tone: "quiet" },
    [notify.noAddress]: { label: "skipped", tone: "warn" },
    [notify.invalidAddress]: { label: "skipped", tone: "warn" },
    [notify.rejected]: { label: "rejected", tone: "bad" },
    [notify.unrenderable]: { label: "rejected", tone: "bad" },
    [notify.putFailed]: { label: "not queued", tone: "bad" },
    [notify.error]: { label: "error", tone: "bad" },
  },
  eventbridge: {
    [eventbridge.queued]: { label: "queued", tone: "info" },
    [eventbridge.retried]: { label: "retried", tone: "warn" },
    [eventbridge.deadLettered]: { label: "dead-lettered", tone: "bad" },
    [eventbridge.unmatched]: { label: "unrouted", tone: "warn" },
  },
  worker: {
    [worker.sent]: { label: "sent", tone: "good" },
    [worker.retry]: { label: "retried", tone: "warn" },
    [worker.delayed]: { label: "delayed", tone: "warn" },
    [worker.duplicate]: { label: "skipped", tone: "quiet" },
    [worker.failed]: { label: "failed", tone: "bad" },
    [worker.invalid]: { label: "invalid", tone: "bad" },
    [worker.error]: { label: "error", tone: "bad" },
  },
  "local-sqs": {
    [OUTCOME["local-sqs"].deadLettered]: { label: "dead-lettered", tone: "bad" },
  },
};

const TONE_STYLES: Record<Tone, Parameters<typeof styleText>[0]> = {
  good: ["green", "bold"],
  info: "cyan",
  warn: "yellow",
  bad: ["red", "bold"],
  quiet: "gray",
};

/** Fields shown in the fixed columns; everything else worth reading goes after them. */
const COLUMN_FIELDS = ["time", "component", "outcome", "eventId", "userId", "channel"];
const DETAIL_FIELDS = [
  "provider",
  "reason",
  "rule",
  "attempts",
  "receiveCount",
  "delaySeconds",
  "providerMessageId",
  "connectionId",
  "routeKey",
];

export interface ConsoleLoggerOptions {
  /** @default process.stdout */
  stream?: { write(text: string): unknown; isTTY?: boolean };
  /** @default stream.isTTY, and never when NO_COLOR is set */
  color?: boolean;
  /** Clock for the time column. @default () => new Date() */
  now?: () => Date;
}

/** A DecisionLogger writing one readable line per decision. */
export function makeConsoleLogger(options: ConsoleLoggerOptions = {}): DecisionLogger {
  const stream = options.stream ?? process.stdout;
  const color = options.color ?? (!!stream.isTTY && !process.env.NO_COLOR);
  const now = options.now ?? (() => new Date());
  return (decision) => {
    stream.write(`${formatDecision(decision, { color, time: now() })}\n`);
  };
}

/** One line for a decision: time, stage, channel, user, event id, then the details worth reading. */
export function formatDecision(decision: Decision, options: { color?: boolean; time?: Date } = {}): string {
  const paint = (style: Parameters<typeof styleText>[0], text: string) => (options.color ? styleText(style, text) : text);
  const stage = stageOf(decision);
  const time = (options.time ?? (typeof decision.time === "string" ? new Date(decision.time) : new Date())).toTimeString().slice(0, 8);
  const columns = [
    paint("gray", time),
    paint(TONE_STYLES[stage.tone], stage.label.padEnd(13)),
    (decision.channel ?? "-").padEnd(9),
    (decision.userId ?? "-").padEnd(12),
    paint("gray", decision.eventId ?? "-"),
  ];
  const details: string[] = [];
  if (decision.provider) details.push(`via ${decision.provider}`);
  for (const field of DETAIL_FIELDS) {
    const value = decision[field];
    if (field === "provider" || value === undefined || value === null || value === "") continue;
    details.push(field === "reason" ? `(${String(value)})` : `${field}=${String(value)}`);
  }
  for (const [field, value] of Object.entries(decision)) {
    if (COLUMN_FIELDS.includes(field) || DETAIL_FIELDS.includes(field) || value === undefined || typeof value === "object") continue;
    details.push(`${field}=${String(value)}`);
  }
  return [...columns, details.join(" ")].join("  ").trimEnd();
}

/**
 * The same line for a JSON decision line as logDecision writes it (for piping a Lambda's log through);
 * a line that is not a decision comes back unchanged.
 */
export function formatLogLine(line: string, options: { color?: boolean } = {}): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return line;
  }
  const decision = parsed as Partial<Decision>;
  if (typeof parsed !== "object" || parsed === null || typeof decision.component !== "string" || typeof decision.outcome !== "string")
    return line;
  return formatDecision(decision as Decision, options);
}

function stageOf(decision: Decision): Stage {
  const stages: Partial<Record<string, Stage>> | undefined = STAGES[decision.component];
  const known = stages?.[decision.outcome];
  if (known) return known;
  // Components without a path stage (WebSocket connects, authorizer…) read as "<component> <outcome>".
  const bad = /error|fail|deny|refused|rejected/i.test(decision.outcome);
  return { label: `${decision.component.replace(/^websocket-/, "ws ")} ${decision.outcome}`, tone: bad ? "bad" : "quiet" };
}

/** What the startup banner shows besides the endpoints: who is seeded, and a notification to send. */
export interface BannerExample {
  demoUsers: string;
  example: { userId: string; type: string; data?: Record<string, unknown>; callback?: string };
}

/** The endpoints of a running local Tidings, the dev tokens, and a curl that sends a notification. */
export function startupBanner(tidings: LocalTidings, startedInMs: number, { demoUsers, example }: BannerExample): string {
  const e = tidings.endpoints;
  const send = tidings.config.auth.scopes.send;
  const channels = tidings.channels.map((c) => c.name);
  // The sink pages of the channels this system has.
  const pages = Object.entries(e.sinkPages)
    .filter(([page]) => channels.includes(page))
    .map(([page, url]) => `  sent by ${page.padEnd(7)}${url}`);
  const faulty = channels.find((name) => name !== "websocket") ?? channels[0];
  return [
    "",
    `Tidings is running locally (${startedInMs} ms). Channels: ${channels.join(", ")}`,
    "",
    `  producer API   POST ${e.notifications}   (Authorization: Bearer <token>)`,
    `  dev token      POST ${e.devToken}   {"userId":"alice"} (end user) or {"userId":"svc-orders","scope":"${send}"} (producer)`,
    `  inbox page     ${e.inbox}`,
    `  ops page       ${e.ops}   (queues, DLQs, metrics, deliveries, redrive)`,
    `  WebSocket      ${e.websocket}/?token=<token>`,
    `  SES inbox      ${e.sesInbox}`,
    ...pages,
    `  sink servers   Slack sink ${e.slackSink} (and your webhooks at /hooks/<channel>)   SNS sink ${e.snsSink}`,
    `  faults         POST ${e.api}/dev/faults {"channel":"${faulty}","mode":"retryable"}   (DELETE to clear)`,
    "",
    `  Demo users: ${demoUsers}. Try:`,
    `  TOKEN=$(curl -s -X POST ${e.devToken} -d '{"userId":"svc-orders","scope":"${send}"}' | sed 's/.*"token":"\\([^"]*\\)".*/\\1/')`,
    `  curl -s -X POST ${e.notifications} -H "authorization: Bearer $TOKEN" \\`,
    `    -d '${JSON.stringify(example)}'`,
    "",
    "  Ctrl-C stops everything.",
    "",
  ].join("\n");
}

/** Stops every server on Ctrl-C or SIGTERM, then exits. */
export function stopOnSignals(tidings: Pick<LocalTidings, "stop">): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping Tidings…`);
    await tidings.stop();
    console.log("stopped.");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}
