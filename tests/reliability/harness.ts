/**
 * Shared by the reliability tests: the whole local system (startLocalTidings) with the pacing and
 * politeness limits lifted (they delay deliveries by design and would only slow the fault runs down),
 * and the small helpers those tests need: producer calls, contacts, decision capture, queue draining
 * and DLQ reading.
 */
import { producerScopes } from "../helpers/localTidings";
import { queueDepth as sqsQueueDepth } from "../../local/opsPage";
import { DeleteMessageCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { startLocalTidings, type LocalTidings, type LocalTidingsOptions } from "../../local/tidings";
import type { ChannelDelivery, Provider, ProviderResult } from "../../runtime/contracts";

export type Decision = Record<string, any>;

export interface Harness {
  tidings: LocalTidings;
  /** Every decision line logged so far (worker, notify, gateway...), in order. */
  decisions: Decision[];
  producerToken: string;
  stop(): Promise<void>;
}

/** Starts the local system on free ports, capturing decisions instead of printing them. */
export async function startHarness(options: LocalTidingsOptions = {}): Promise<Harness> {
  const decisions: Decision[] = [];
  const tidings = await startLocalTidings({
    apiPort: 0,
    wsPort: 0,
    sesPort: 0,
    stateFile: false,
    seed: false,
    pollWaitSeconds: 1,
    logger: (entry) => void decisions.push(entry),
    // Thousands of EMF lines on stdout would only cost CPU; the metrics have tests of their own.
    metrics: { count: () => undefined, latency: () => undefined },
    ...options,
    editConfig: (raw) => {
      for (const channel of Object.values<Record<string, unknown>>(raw.channels ?? {})) {
        delete channel.ratePerSecond;
        delete channel.perUser;
      }
      options.editConfig?.(raw);
    },
  });
  const producerToken = await tidings.signToken("producer", { scope: producerScopes(tidings) });
  return { tidings, decisions, producerToken, stop: () => tidings.stop() };
}

/** POSTs one notification request; resolves with the status and parsed body. */
export async function notify(h: Harness, body: object): Promise<{ status: number; body: any }> {
  const response = await fetch(h.tidings.endpoints.notifications, {
    method: "POST",
    headers: { authorization: `Bearer ${h.producerToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** Stores a contact row with an e-mail, an E.164 phone and a Slack webhook on the local sink. */
export async function seedContact(h: Harness, userId: string, index: number): Promise<void> {
  const { ddb } = h.tidings.clients;
  await ddb.send(
    new PutCommand({
      TableName: h.tidings.tables.contacts,
      Item: {
        userId,
        email: `${userId}@example.com`,
        phone: `+1555${String(index).padStart(7, "0")}`,
        external_channels: { slack: { webhookUrl: h.tidings.sinks.slack.webhookUrl(`hook${userId.replace(/[^A-Za-z0-9]/g, "")}`) } },
      },
    }),
  );
}

/** Messages on a queue: visible, in flight and delayed. */
export function queueDepth(h: Harness, queueUrl: string): Promise<number> {
  return sqsQueueDepth(h.tidings.clients.sqs, queueUrl);
}

/**
 * Waits until the bus has handed every event on and every channel queue has been empty for
 * `quietChecks` checks in a row; throws naming the queues still holding messages when their depths
 * have not changed for `stalledAfterMs`.
 */
export async function drain(h: Harness, stalledAfterMs: number, quietChecks = 3): Promise<number> {
  const started = Date.now();
  let quiet = 0;
  let seen = "";
  let changedAt = Date.now();
  for (;;) {
    await h.tidings.bus.idle();
    const depths = await Promise.all(h.tidings.channels.map(async (c) => [c.name, await queueDepth(h, c.queueUrl)] as const));
    quiet = depths.every(([, depth]) => depth === 0) ? quiet + 1 : 0;
    if (quiet >= quietChecks) return Date.now() - started;
    // Sized by work, not by time: a loaded machine drains slower, but a drain that moves is never cut
    // short. Only queues that stop moving altogether fail it.
    const now = JSON.stringify(depths);
    if (now !== seen) {
      seen = now;
      changedAt = Date.now();
    } else if (Date.now() - changedAt > stalledAfterMs) {
      throw new Error(`queues stopped draining for ${stalledAfterMs} ms: ${depths.map(([name, depth]) => `${name}=${depth}`).join(", ")}`);
    }
    await sleep(250);
  }
}

/** Receives and deletes every message of a queue, returning the parsed bodies. */
export async function takeAll(h: Harness, queueUrl: string): Promise<any[]> {
  const { sqs } = h.tidings.clients;
  const bodies: any[] = [];
  for (;;) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 30 }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) return bodies;
    for (const message of messages) {
      bodies.push(JSON.parse(message.Body ?? "null"));
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
    }
  }
}

/** A provider wrapper that counts calls per eventId and can delay or replace the real send. */
export function instrument(
  provider: Provider,
  before?: (delivery: ChannelDelivery, call: number) => Promise<ProviderResult | void> | ProviderResult | void,
): Provider & { calls: Map<string, number> } {
  const calls = new Map<string, number>();
  return {
    name: provider.name,
    calls,
    async send(delivery) {
      const call = (calls.get(delivery.eventId) ?? 0) + 1;
      calls.set(delivery.eventId, call);
      const injected = await before?.(delivery, call);
      return injected ?? provider.send(delivery);
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** mulberry32: a small seeded PRNG, so a failing fault run can be replayed with its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
