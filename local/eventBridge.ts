/**
 * A local EventBridge bus for `npm start` and the tests. It speaks the PutEvents wire protocol (JSON 1.1,
 * `X-Amz-Target: AWSEvents.PutEvents`), so an `EventBridgeClient` pointed here with
 * `AWS_ENDPOINT_URL_EVENTBRIDGE=<endpoint>` works unchanged. Accepted entries become EventBridge events
 * (the envelope rules and targets see) and go to every rule on the same bus whose pattern matches.
 * A target that throws is retried, then handed to the rule's dead-letter target, as a rule target DLQ does.
 *
 * @example
 * const bus = await startEventBus();
 * bus.addRule({
 *   name: "email",
 *   eventBusName: "tidings",
 *   pattern: { source: ["tidings"], "detail-type": ["notification.email"] },
 *   target: sqsTarget(sqs, emailQueueUrl),
 *   deadLetter: sqsDeadLetter(sqs, emailRuleDlqUrl, { ruleName: "email" }),
 * });
 * process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = bus.endpoint;
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { DecisionLogger } from "../runtime/log";
import { matchesPattern, validatePattern } from "./eventPattern";

/** The event as EventBridge hands it to rule targets (an SQS target receives it as the message body). */
export interface EventBridgeEvent {
  version: "0";
  id: string;
  "detail-type": string;
  source: string;
  account: string;
  /** ISO-8601 without milliseconds, as EventBridge writes it. */
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

export type EventTarget = (event: EventBridgeEvent) => Promise<void>;
export type DeadLetterTarget = (event: EventBridgeEvent, error: unknown) => Promise<void>;

export interface EventRule {
  /** Unique per bus. */
  name: string;
  /** Bus the rule listens on; a name or an event-bus ARN. @default "default" (as in AWS) */
  eventBusName?: string;
  /** An EventBridge event pattern; validated when the rule is added. */
  pattern: object;
  /** Called once per matching event; throwing means "delivery failed, retry". */
  target: EventTarget;
  /** Gets the event after the last failed attempt. Without one, the failure is logged and the event dropped. */
  deadLetter?: DeadLetterTarget;
}

export interface EventBusOptions {
  /** @default 0 (any free port) */
  port?: number;
  /** @default process.env.AWS_REGION ?? "us-east-1" */
  region?: string;
  /** @default "000000000000" */
  account?: string;
  /** Attempts after the first failed one, and the delay before the first retry (doubled each time). */
  retry?: { attempts?: number; delayMs?: number };
  /** Decision lines (queued / retried / dead-lettered / unmatched). @default no logging */
  logger?: DecisionLogger;
}

export interface LocalEventBus {
  /** `http://127.0.0.1:<port>`: give it to SDK clients as AWS_ENDPOINT_URL_EVENTBRIDGE. */
  endpoint: string;
  port: number;
  /** Adds a rule; throws for an invalid pattern or a name already used on that bus. */
  addRule(rule: EventRule): void;
  removeRule(name: string, eventBusName?: string): void;
  /** Accepted events in arrival order (the latest RECEIVED_KEPT, so a long `npm start` does not grow without bound). */
  received: EventBridgeEvent[];
  /** Resolves when every delivery started so far (retries and dead-lettering included) has finished. */
  idle(): Promise<void>;
  /** Stops accepting requests and waits for deliveries in flight. */
  stop(): Promise<void>;
}

/** EventBridge's PutEvents entry limit. */
export const MAX_ENTRY_BYTES = 256 * 1024;
const MAX_ENTRIES = 10;
const MAX_REQUEST_BYTES = 2 * 1024 * 1024;
export const RECEIVED_KEPT = 1000;

export async function startEventBus(options: EventBusOptions = {}): Promise<LocalEventBus> {
  const region = options.region ?? process.env.AWS_REGION ?? "us-east-1";
  const account = options.account ?? "000000000000";
  const retryAttempts = options.retry?.attempts ?? 2;
  const retryDelayMs = options.retry?.delayMs ?? 100;
  const log = options.logger ?? (() => {});
  const rules = new Map<string, EventRule & { bus: string }>();
  const received: EventBridgeEvent[] = [];
  const inFlight = new Set<Promise<void>>();

  const server = createServer((request, response) => {
    handle(request, response).catch((error) => {
      sendError(response, 500, "InternalException", error instanceof Error ? error.message : String(error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method !== "POST") {
      return sendError(response, 405, "UnknownOperationException", "Only POST / with an X-Amz-Target header is supported.");
    }
    const raw = await readBody(request);
    if (raw === undefined) return sendError(response, 413, "ValidationException", "Request body is over the limit.");
    let body: any;
    try {
      body = raw.length ? JSON.parse(raw) : {};
    } catch {
      return sendError(response, 400, "SerializationException", "The request body is not valid JSON.");
    }
    const target = String(request.headers["x-amz-target"] ?? "");
    if (target === "AWSEvents.PutEvents") {
      try {
        return sendJson(response, 200, putEvents(body));
      } catch (error) {
        if ((error as { code?: string }).code === "ValidationException")
          return sendError(response, 400, "ValidationException", (error as Error).message);
        throw error;
      }
    }
    if (target === "AWSEvents.TestEventPattern") return testEventPattern(body, response);
    return sendError(
      response,
      400,
      "UnknownOperationException",
      `Operation "${target}" is not supported by the local bus; only PutEvents and TestEventPattern are.`,
    );
  }

  function putEvents(body: any): object {
    const entries = body?.Entries;
    if (!Array.isArray(entries) || entries.length < 1 || entries.length > MAX_ENTRIES) {
      throw validation(`Entries must hold 1 to ${MAX_ENTRIES} entries.`);
    }
    const results = entries.map((entry: any) => acceptEntry(entry));
    return {
      FailedEntryCount: results.filter((r: object) => "ErrorCode" in r).length,
      Entries: results,
    };
  }

  function acceptEntry(entry: any): { EventId: string } | { ErrorCode: string; ErrorMessage: string } {
    for (const field of ["Source", "DetailType", "Detail"]) {
      if (typeof entry?.[field] !== "string" || entry[field].length === 0) {
        return { ErrorCode: "InvalidArgument", ErrorMessage: `Parameter ${field} is not valid. Reason: ${field} is a required argument.` };
      }
    }
    let detail: unknown;
    try {
      detail = JSON.parse(entry.Detail);
    } catch {
      detail = undefined;
    }
    if (typeof detail !== "object" || detail === null || Array.isArray(detail)) {
      return { ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed: it must be a JSON object." };
    }
    const resources: unknown = entry.Resources ?? [];
    if (!Array.isArray(resources) || !resources.every((r) => typeof r === "string")) {
      return {
        ErrorCode: "InvalidArgument",
        ErrorMessage: "Parameter Resources is not valid. Reason: Resources must be a list of strings.",
      };
    }
    const size = entrySize(entry, resources as string[]);
    if (size > MAX_ENTRY_BYTES) {
      return {
        ErrorCode: "InvalidArgument",
        ErrorMessage: `Entry size ${size} bytes is over the limit of ${MAX_ENTRY_BYTES} bytes (256 KB).`,
      };
    }
    const time = entry.Time === undefined ? new Date() : new Date(typeof entry.Time === "number" ? entry.Time * 1000 : entry.Time);
    if (Number.isNaN(time.getTime())) {
      return { ErrorCode: "InvalidArgument", ErrorMessage: "Parameter Time is not valid." };
    }
    const event: EventBridgeEvent = {
      version: "0",
      id: randomUUID(),
      "detail-type": entry.DetailType,
      source: entry.Source,
      account,
      time: time.toISOString().replace(/\.\d{3}Z$/, "Z"),
      region,
      resources: resources as string[],
      detail: detail as Record<string, unknown>,
    };
    received.push(event);
    if (received.length > RECEIVED_KEPT) received.splice(0, received.length - RECEIVED_KEPT);
    route(event, busName(entry.EventBusName));
    return { EventId: event.id };
  }

  function testEventPattern(body: any, response: ServerResponse): void {
    let pattern: unknown;
    let event: unknown;
    try {
      pattern = JSON.parse(body?.EventPattern);
      event = JSON.parse(body?.Event);
    } catch {
      return sendError(response, 400, "InvalidEventPatternException", "EventPattern and Event must both be JSON strings.");
    }
    try {
      sendJson(response, 200, { Result: matchesPattern(pattern, event) });
    } catch (error) {
      sendError(response, 400, "InvalidEventPatternException", (error as Error).message);
    }
  }

  function route(event: EventBridgeEvent, bus: string): void {
    const matching = [...rules.values()].filter((rule) => rule.bus === bus && matchesPattern(rule.pattern, event));
    if (matching.length === 0) {
      log({ component: "eventbridge", outcome: "unmatched", ...about(event), reason: `no rule on bus "${bus}" matches` });
    }
    for (const rule of matching) {
      const delivery = deliver(rule, event).finally(() => inFlight.delete(delivery));
      inFlight.add(delivery);
    }
  }

  async function deliver(rule: EventRule, event: EventBridgeEvent): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve)); // after the PutEvents reply, as in AWS
    let lastError: unknown;
    for (let attempt = 0; attempt <= retryAttempts; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, retryDelayMs * 2 ** (attempt - 1)));
      try {
        await rule.target(event);
        log({ component: "eventbridge", outcome: "queued", ...about(event), rule: rule.name, attempts: attempt + 1 });
        return;
      } catch (error) {
        lastError = error;
        if (attempt < retryAttempts) {
          log({ component: "eventbridge", outcome: "retried", ...about(event), rule: rule.name, reason: messageOf(error) });
        }
      }
    }
    log({ component: "eventbridge", outcome: "dead-lettered", ...about(event), rule: rule.name, reason: messageOf(lastError) });
    if (!rule.deadLetter) {
      console.error(
        `[eventbridge] rule "${rule.name}" dropped event ${event.id} after ${retryAttempts + 1} attempts: ${messageOf(lastError)}`,
      );
      return;
    }
    try {
      await rule.deadLetter(event, lastError);
    } catch (error) {
      console.error(`[eventbridge] rule "${rule.name}" could not dead-letter event ${event.id}: ${messageOf(error)}`);
    }
  }

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    received,
    addRule(rule) {
      if (!rule.name) throw new Error("Every rule needs a name.");
      validatePattern(rule.pattern);
      if (typeof rule.target !== "function") throw new Error(`Rule "${rule.name}" needs a target function.`);
      const bus = busName(rule.eventBusName);
      const key = `${bus}/${rule.name}`;
      if (rules.has(key))
        throw new Error(`A rule named "${rule.name}" already exists on bus "${bus}"; remove it first or pick another name.`);
      rules.set(key, { ...rule, bus });
    },
    removeRule(name, eventBusName) {
      rules.delete(`${busName(eventBusName)}/${name}`);
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}

/** A rule target that sends the event to an SQS queue, as an EventBridge → SQS target does. */
export function sqsTarget(sqs: SQSClient, queueUrl: string): EventTarget {
  // Events for this queue that arrive in the same turn of the event loop go in one SendMessageBatch
  // (at most 10), as EventBridge's own SQS target batches; each event still succeeds or fails alone.
  const pending: { body: string; resolve: () => void; reject: (error: unknown) => void }[] = [];
  const flush = async () => {
    const batch = pending.splice(0, SQS_BATCH);
    if (pending.length) setImmediate(flush);
    try {
      const out = await sqs.send(
        new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: batch.map((entry, i) => ({ Id: String(i), MessageBody: entry.body })) }),
      );
      const failed = new Map((out.Failed ?? []).map((f) => [Number(f.Id), f]));
      batch.forEach((entry, i) => {
        const failure = failed.get(i);
        if (failure)
          entry.reject(Object.assign(new Error(failure.Message ?? "SendMessageBatch entry failed"), { name: failure.Code ?? "Error" }));
        else entry.resolve();
      });
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    }
  };
  return (event) =>
    new Promise<void>((resolve, reject) => {
      pending.push({ body: JSON.stringify(event), resolve, reject });
      if (pending.length === 1) setImmediate(flush);
    });
}

/** SendMessageBatch takes at most 10 entries. */
const SQS_BATCH = 10;

/**
 * A rule's dead-letter target on SQS: the event as the body, and the message attributes EventBridge adds
 * to events it could not deliver (ERROR_CODE, ERROR_MESSAGE, RULE_ARN, TARGET_ARN).
 */
export function sqsDeadLetter(
  sqs: SQSClient,
  deadLetterQueueUrl: string,
  names: { ruleName?: string; targetArn?: string } = {},
): DeadLetterTarget {
  return async (event, error) => {
    const attribute = (value: string) => ({ DataType: "String", StringValue: value.slice(0, 256) || "-" });
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: deadLetterQueueUrl,
        MessageBody: JSON.stringify(event),
        MessageAttributes: {
          ERROR_CODE: attribute((error as { name?: string })?.name ?? "Error"),
          ERROR_MESSAGE: attribute(messageOf(error)),
          RULE_ARN: attribute(`arn:aws:events:${event.region}:${event.account}:rule/${names.ruleName ?? "local"}`),
          TARGET_ARN: attribute(names.targetArn ?? "local-target"),
        },
      }),
    );
  };
}

function busName(nameOrArn: unknown): string {
  if (typeof nameOrArn !== "string" || nameOrArn === "") return "default";
  const arn = /^arn:[^:]+:events:[^:]*:[^:]*:event-bus\/(.+)$/.exec(nameOrArn);
  return arn ? arn[1] : nameOrArn;
}

/** Size as EventBridge counts it: Time 14 bytes, then the UTF-8 bytes of Source, DetailType, Detail, Resources. */
function entrySize(entry: { Time?: unknown; Source: string; DetailType: string; Detail: string }, resources: string[]): number {
  const bytes = (text: string) => Buffer.byteLength(text, "utf8");
  return (
    (entry.Time !== undefined ? 14 : 0) +
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail) +
    resources.reduce((sum, r) => sum + bytes(r), 0)
  );
}

function about(event: EventBridgeEvent): { eventId: string; userId?: string; channel?: string } {
  const detail = event.detail as { eventId?: unknown; userId?: unknown; channel?: unknown };
  return {
    eventId: typeof detail.eventId === "string" ? detail.eventId : event.id,
    userId: typeof detail.userId === "string" ? detail.userId : undefined,
    channel: typeof detail.channel === "string" ? detail.channel : undefined,
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function validation(message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code: "ValidationException" });
}

async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of request) {
    length += chunk.length;
    if (length > MAX_REQUEST_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/x-amz-json-1.1",
    "content-length": Buffer.byteLength(text),
    "x-amzn-requestid": randomUUID(),
  });
  response.end(text);
}

function sendError(response: ServerResponse, status: number, type: string, message: string): void {
  if (response.headersSent) return void response.destroy();
  response.setHeader("x-amzn-errortype", type);
  sendJson(response, status, { __type: type, message });
}
