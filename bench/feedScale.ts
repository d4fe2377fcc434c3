/**
 * Part "feed": what the inbox's requests cost on a small feed and on a long one (issue 22 §8). Each feed
 * is filled on the local DynamoDB (dynalite) with items one millisecond apart, half of them archived; then
 * the end-user API's reads and writes run as runtime/userApi.ts makes them (a page is the items and the
 * unread count), with every DynamoDB call counted and its consumed capacity asked for (TOTAL).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { startLocalAws } from "../local/aws";
import type { ChannelDelivery } from "../runtime/contracts";
import { makeFeed } from "../runtime/feed";
import { formatNumber, formatRatio, mapBounded, now, type PartResult } from "./lib";

export interface FeedScaleOptions {
  /** Items per feed; the first is the base of the ratios. */
  sizes: number[];
}

interface Cost {
  ms: number;
  calls: number;
  read: number;
  write: number;
}

const TABLE = "bench-feed";
const PAGE = 20;

export async function runFeedScale(options: FeedScaleOptions, progress: (line: string) => void): Promise<PartResult> {
  const aws = await startLocalAws();
  try {
    aws.applyEnv();
    await aws.createTables({ feed: TABLE });
    const client = new DynamoDBClient({});
    const counted = { calls: 0, read: 0, write: 0 };
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { ReturnConsumedCapacity?: string };
        input.ReturnConsumedCapacity ??= "TOTAL";
        const result = await next(args);
        const units = [(result.output as any).ConsumedCapacity ?? []]
          .flat()
          .reduce((sum: number, c: any) => sum + (c?.CapacityUnits ?? 0), 0);
        counted.calls++;
        if (/^(Get|Query|Scan|BatchGet)/.test(String(context.commandName))) counted.read += units;
        else counted.write += units;
        return result;
      },
      { step: "initialize", name: "countFeedCalls" },
    );
    const ddb = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    let clock = Date.parse("2026-12-07T00:00:00.000Z");
    const feed = makeFeed({ ddb, table: TABLE, now: () => clock });

    async function cost(task: () => Promise<unknown>): Promise<Cost> {
      clock += 1000;
      Object.assign(counted, { calls: 0, read: 0, write: 0 });
      const started = now();
      await task();
      return { ms: now() - started, ...counted };
    }
    const page = (userId: string, listing: "inbox" | "unread" | "archived") => feed.list(userId, { limit: PAGE, listing });

    const steps = {
      [`first page (${PAGE} items + unread count), before mark all read`]: (u: string) => page(u, "inbox"),
      "mark all read": (u: string) => feed.markAllRead(u),
      [`first page (${PAGE} items + unread count), after`]: (u: string) => page(u, "inbox"),
      [`first unread page, after`]: (u: string) => page(u, "unread"),
      [`first archive page`]: (u: string) => page(u, "archived"),
    };
    const measured: Record<string, Cost[]> = Object.fromEntries(Object.keys(steps).map((s) => [s, []]));
    for (const size of options.sizes) {
      const userId = `reader-${size}`;
      progress(`filling a feed of ${size} items`);
      const eventIds = Array.from({ length: size }, (_, n) => `e-${String(n).padStart(6, "0")}`);
      await mapBounded(eventIds, 16, async (eventId, n) => {
        const delivery: ChannelDelivery = {
          eventId,
          userId,
          type: "order.shipped",
          channel: "websocket",
          kind: "actionable",
          content: { subject: "Shipped", text: `Order ${n} has shipped` },
          address: {},
          createdAt: new Date(clock + n).toISOString(),
        };
        await feed.store(delivery);
      });
      clock += size;
      const archived = eventIds.slice(0, size / 2);
      await mapBounded(
        Array.from({ length: Math.ceil(archived.length / 100) }, (_, i) => archived.slice(i * 100, i * 100 + 100)),
        16,
        (ids) => feed.archive(userId, ids),
      );
      for (const [step, run] of Object.entries(steps)) {
        const c = await cost(() => run(userId));
        measured[step].push(c);
        progress(`${size} items, ${step}: ${formatNumber(c.ms, 1)} ms, ${c.calls} calls, ${c.read} RCU, ${c.write} WCU`);
      }
    }
    const [base, ...others] = options.sizes;
    const rows = Object.entries(measured).flatMap(([step, costs]) =>
      costs.map((c, i) => [
        step,
        formatNumber(options.sizes[i]),
        formatNumber(c.ms, 1),
        String(c.calls),
        formatNumber(c.read, 1),
        formatNumber(c.write, 1),
        i === 0 ? "–" : formatRatio(c.ms / costs[0].ms),
        i === 0 ? "–" : formatRatio((c.read + c.write) / Math.max(costs[0].read + costs[0].write, 0.5)),
      ]),
    );
    return {
      title: "The feed's cost by its length",
      tables: [
        {
          headers: ["request", "items in the feed", "ms", "DynamoDB calls", "read units", "write units", "÷ base ms", "÷ base units"],
          rows,
        },
      ],
      notes: [
        `Base: a feed of ${formatNumber(base)} items; ${others.map((n) => formatNumber(n)).join(", ")} beside it. Half of each feed is archived, the other half unread until "mark all read". Items are one millisecond apart.`,
        "A page is what `GET /me/notifications` reads: the read mark, the items (limit 20) and the unread count. Mark all read is `POST /me/notifications/read {all: true}`: one write of the user's read mark (no type escalates here, so no log row is touched).",
        "Capacity units are dynalite's ConsumedCapacity (TOTAL), as DynamoDB counts them: 4 KB per read unit (strongly consistent), 1 KB per write unit, summed over the calls. Index queries are eventually consistent: half a unit per 4 KB.",
        "The unread count before mark all read reads every unread item's key (COUNT over the sparse unread index), so it grows with the unread items; after the mark it reads only what arrived since.",
      ],
    };
  } finally {
    await aws.stop();
  }
}
