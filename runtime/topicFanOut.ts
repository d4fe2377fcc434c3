/**
 * The topic fan-out function: for each `{ eventId }` on its queue, it pages the topic's subscribers from
 * the send's saved cursor and hands each to the service's pipeline (`send`), a few at a time. After each
 * page the cursor moves (runtime/topicSends.ts). After `pagesPerRun` pages it puts `{ eventId }` on its
 * queue again and returns, so no run outlasts its timeout; a run that fails is retried by SQS from the
 * saved cursor, and its DLQ keeps a send that keeps failing.
 */
import type { SqsBatchResponse, SqsEvent } from "./contracts";
import { type DecisionLogger, logDecision, OUTCOME } from "./log";
import type { TopicSend, TopicSends } from "./topicSends";
import type { Topics } from "./topics";

/** Recipients handed to the pipeline at once. */
const CONCURRENCY = 8;

export interface TopicFanOutDeps {
  sends: TopicSends;
  topics: Pick<Topics, "page">;
  /** One recipient through the pipeline: sent (or already), or no channel could reach them; throws to retry. */
  send: (send: TopicSend, userId: string) => Promise<"sent" | "unreachable">;
  /** Puts `{ eventId }` on the fan-out queue again, to go on in a run of its own. */
  requeue: (eventId: string) => Promise<void>;
  /** @default 20 (2,000 recipients) */
  pagesPerRun?: number;
  logger?: DecisionLogger;
}

export function makeTopicFanOut(deps: TopicFanOutDeps) {
  const logger = deps.logger ?? logDecision;
  const pagesPerRun = deps.pagesPerRun ?? 20;

  async function run(eventId: string): Promise<void> {
    for (let pages = 0; pages < pagesPerRun; pages++) {
      const send = await deps.sends.get(eventId);
      if (!send || send.done) return;
      const page = await deps.topics.page(send.topic, send.cursor);
      const outcomes: ("sent" | "unreachable")[] = [];
      for (let at = 0; at < page.userIds.length; at += CONCURRENCY)
        outcomes.push(...(await Promise.all(page.userIds.slice(at, at + CONCURRENCY).map((userId) => deps.send(send, userId)))));
      const unreachable = outcomes.filter((o) => o === "unreachable").length;
      const moved = await deps.sends.advance(send, { userIds: page.userIds, last: page.last, unreachable });
      logger({ component: "fanout", outcome: OUTCOME.fanout.page, eventId, count: page.userIds.length, unreachable });
      // Another run moved the cursor first: it goes on from there.
      if (!moved || page.last === undefined) return;
    }
    await deps.requeue(eventId);
  }

  return async (event: SqsEvent): Promise<SqsBatchResponse> => {
    const failures: { itemIdentifier: string }[] = [];
    for (const record of event?.Records ?? []) {
      let eventId: unknown;
      try {
        eventId = (JSON.parse(record.body) as { eventId?: unknown }).eventId;
      } catch {
        eventId = undefined;
      }
      if (typeof eventId !== "string") {
        // Not a fan-out message: nothing would ever make it one.
        logger({ component: "fanout", outcome: OUTCOME.fanout.invalid, reason: "a fan-out message is { eventId }" });
        continue;
      }
      try {
        await run(eventId);
      } catch (error) {
        logger({ component: "fanout", outcome: OUTCOME.fanout.error, eventId, reason: String((error as Error)?.message ?? error) });
        failures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures: failures };
  };
}
