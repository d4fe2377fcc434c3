/**
 * The feed's cost does not grow with its length (issue 22 §8). On the local DynamoDB, with every call the
 * feed makes counted (command and items the table read), a feed of a few items and one of many answer
 * "mark all read", the first page of the inbox, of the archive and of the unread items, and the unread
 * count with the same calls and reads. Behind that: the read mark reads as `readAt` on every item that
 * arrived by then, an item arriving later is unread, a renotify brings an archived group item back
 * unread, and erasure takes the mark too.
 */
import { expect } from "chai";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { BatchWriteCommand, DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { type LocalAws, startLocalAws } from "../local/aws";
import type { ChannelDelivery } from "../runtime/contracts";
import { type Feed, groupItemId, makeFeed } from "../runtime/feed";

const TABLE = "cost-feed";

/** Every call the client sends: its command and the items the table examined (Count/ScannedCount). */
interface Counted {
  command: string;
  scanned: number;
}

describe("the feed's cost, whatever its length (local DynamoDB)", function () {
  this.timeout(120_000);
  let aws: LocalAws;
  let ddb: DynamoDBDocumentClient;
  let calls: Counted[] = [];
  let clock = Date.parse("2026-12-07T12:00:00.000Z");
  let feed: Feed;

  const delivery = (userId: string, n: number, extra: Partial<ChannelDelivery> = {}): ChannelDelivery => ({
    eventId: `e-${String(n).padStart(6, "0")}`,
    userId,
    type: "order.shipped",
    channel: "websocket",
    kind: "actionable",
    content: { text: `Order ${n} shipped` },
    address: {},
    createdAt: new Date(clock).toISOString(),
    ...extra,
  });

  /** Stores `count` items for the user a millisecond apart, archiving all but the newest `inInbox`. */
  async function fill(userId: string, count: number, inInbox: number) {
    for (let n = 0; n < count; n++) {
      clock += 1;
      await feed.store(delivery(userId, n));
    }
    const archived = Array.from({ length: count - inInbox }, (_, n) => `e-${String(n).padStart(6, "0")}`);
    for (let i = 0; i < archived.length; i += 100) await feed.archive(userId, archived.slice(i, i + 100));
  }

  /** The calls `task` made. */
  async function measure(task: () => Promise<unknown>): Promise<Counted[]> {
    calls = [];
    await task();
    return calls;
  }
  const shape = (counted: Counted[]) => counted.map((c) => `${c.command}:${c.scanned}`).join(" ");

  before(async () => {
    aws = await startLocalAws();
    aws.applyEnv();
    await aws.createTables({ feed: TABLE });
    const client = new DynamoDBClient({});
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        const output = result.output as { Count?: number; ScannedCount?: number; Item?: unknown };
        calls.push({ command: String(context.commandName), scanned: output.ScannedCount ?? (output.Item ? 1 : 0) });
        return result;
      },
      { step: "initialize", name: "countFeedCalls" },
    );
    ddb = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    feed = makeFeed({ ddb, table: TABLE, now: () => clock });
  });
  after(async () => aws?.stop());

  it("answers a short feed and a long one with the same calls and the same items read", async () => {
    await fill("short", 6, 3);
    await fill("long", 600, 3);
    const steps = {
      "first inbox page": (user: string) => feed.list(user, { limit: 1 }),
      "first archive page": (user: string) => feed.list(user, { limit: 1, listing: "archived" }),
      "mark all read": (user: string) => feed.markAllRead(user),
      "unread count after": (user: string) => feed.unreadCount(user),
      "first unread page after": (user: string) => feed.list(user, { limit: 1, listing: "unread" }),
    };
    for (const [step, run] of Object.entries(steps)) {
      clock += 1;
      const short = await measure(() => run("short"));
      const long = await measure(() => run("long"));
      expect(shape(long), step).to.equal(shape(short));
    }
    // Reading only what the page needs: one item from the inbox, not the 597 archived beside it.
    const page = await measure(() => feed.list("long", { limit: 1 }));
    expect(page.find((c) => c.command === "QueryCommand")?.scanned).to.equal(1);
    const markAll = await measure(() => feed.markAllRead("long"));
    expect(markAll.map((c) => c.command)).to.deep.equal(["UpdateItemCommand"]);
  });

  it("reads the mark as readAt on what arrived by then; what arrives later is unread; mark never moves back", async () => {
    clock += 1000;
    await feed.store(delivery("mark", 1));
    clock += 1000;
    const upTo = await feed.markAllRead("mark");
    expect(upTo).to.equal(new Date(clock).toISOString());
    clock += 1000;
    await feed.store(delivery("mark", 2));
    const { items } = await feed.list("mark", { limit: 10 });
    expect(items.map((i) => [i.eventId, i.readAt])).to.deep.equal([
      ["e-000002", undefined],
      ["e-000001", upTo],
    ]);
    expect(await feed.unreadCount("mark")).to.equal(1);
    // A request answered late (its clock behind the stored mark) does not move the mark back.
    const stored = clock;
    clock -= 5000;
    expect(await feed.markAllRead("mark")).to.equal(upTo);
    clock = stored;
    expect(await feed.readMark("mark")).to.equal(upTo);
  });

  it("a renotify brings an archived group item back to the top, unread above the mark", async () => {
    const group = { key: "export:7", id: groupItemId("svc", "export:7") };
    clock += 1000;
    await feed.store(delivery("group", 1, { kind: "feedback", progress: 10, group }));
    clock += 1000;
    await feed.store(delivery("group", 2));
    await feed.archive("group", [group.id]);
    await feed.markAllRead("group");
    clock += 1000;
    await feed.store(delivery("group", 3, { kind: "feedback", progress: 100, group: { ...group, renotify: true } }));
    const inbox = await feed.list("group", { limit: 10 });
    expect(inbox.items.map((i) => [i.eventId, i.readAt === undefined])).to.deep.equal([
      [group.id, true],
      ["e-000002", false],
    ]);
    expect((await feed.list("group", { limit: 10, listing: "archived" })).items).to.deep.equal([]);
    expect(await feed.unreadCount("group")).to.equal(1);
  });

  it("erases the mark with the items", async () => {
    await feed.store(delivery("gone", 1));
    await feed.markAllRead("gone");
    expect(await feed.erase("gone")).to.equal(1);
    expect(await feed.readMark("gone")).to.equal(undefined);
  });

  it("never lists a row archived before the archive had its own index", async () => {
    // Such a row keeps its feedKey and has archivedAt: the inbox leaves it out, as it always did.
    clock += 1000;
    const at = new Date(clock).toISOString();
    await ddb.send(
      new BatchWriteCommand({
        RequestItems: {
          [TABLE]: [
            {
              PutRequest: {
                Item: {
                  ...delivery("legacy", 1),
                  feedKey: `${at}#e-000001`,
                  archivedAt: at,
                  ttl: Math.floor(clock / 1000) + 3600,
                },
              },
            },
          ],
        },
      }),
    );
    expect((await feed.list("legacy", { limit: 5 })).items).to.deep.equal([]);
  });
});
