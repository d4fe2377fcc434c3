/**
 * Progress in place (issue 21 §8): feedback notifications with one groupKey update one feed item.
 * The feed on the local DynamoDB: updates arriving out of order end on the newest, the item counts once
 * in unreadCount, keeps its read state unless an update says renotify, and another producer's same key
 * is another item. In the local mode over HTTP and a WebSocket: the producer's requests, the `update`
 * frames, the one listed item, a read that opens the newest update's log row, and the 400s.
 */
import { expect } from "chai";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { type LocalAws, startLocalAws } from "../local/aws";
import type { LocalTidings } from "../local/tidings";
import type { ChannelDelivery } from "../runtime/contracts";
import { type Feed, groupItemId, makeFeed } from "../runtime/feed";
import { devToken, producerScopes, startQuiet } from "./helpers/localTidings";
import { frames, openSocket, until } from "./helpers/sockets";

describe("progress in place", function () {
  this.timeout(60_000);

  describe("the feed (local DynamoDB)", () => {
    let aws: LocalAws;
    let feed: Feed;
    const group = { key: "export:42", id: groupItemId("svc-reports", "export:42") };
    const update = (n: number, progress: number, extra: Partial<ChannelDelivery> = {}): ChannelDelivery => ({
      eventId: `e-${n}`,
      userId: "ada",
      type: "job.progress",
      channel: "websocket",
      kind: "feedback",
      content: { text: `Export: ${progress}%` },
      progress,
      address: {},
      createdAt: `2026-12-07T12:00:0${n}.000Z`,
      group,
      ...extra,
    });

    before(async () => {
      aws = await startLocalAws();
      aws.applyEnv();
      await aws.createTables({ feed: "progress-feed" });
      const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
      feed = makeFeed({ ddb, table: "progress-feed" });
    });
    after(async () => aws?.stop());

    it("keeps one item per group: updates out of order end on the newest, and it counts once", async () => {
      expect(await feed.store(update(1, 10))).to.equal("stored");
      expect(await feed.store(update(3, 60))).to.equal("updated");
      expect(await feed.store(update(2, 40))).to.equal("stale");
      expect(await feed.store(update(3, 60))).to.equal("stale"); // a redelivery changes nothing
      const { items } = await feed.list("ada", { limit: 10 });
      expect(items).to.have.length(1);
      expect(items[0]).to.deep.include({
        eventId: group.id,
        groupKey: "export:42",
        content: { text: "Export: 60%" },
        progress: 60,
        createdAt: "2026-12-07T12:00:01.000Z",
        updatedAt: "2026-12-07T12:00:03.000Z",
      });
      expect(await feed.unreadCount("ada")).to.equal(1);
    });

    it("keeps its read state through updates, unless one says renotify; a read opens the newest update", async () => {
      const { logIds } = await feed.markRead("ada", [group.id]);
      expect(logIds).to.deep.equal(["e-3"]);
      await feed.store(update(4, 80));
      expect(await feed.unreadCount("ada")).to.equal(0);
      expect((await feed.get("ada", group.id))?.readAt).to.be.a("string");
      await feed.store(update(5, 100, { content: { text: "Export ready" }, group: { ...group, renotify: true } }));
      expect(await feed.unreadCount("ada")).to.equal(1);
      const item = await feed.get("ada", group.id);
      expect(item).to.include({ progress: 100, lastEventId: "e-5" });
      expect(item?.readAt).to.equal(undefined);
    });

    it("gives another producer's same groupKey an item of its own", async () => {
      const other = { key: "export:42", id: groupItemId("svc-billing", "export:42") };
      expect(other.id).to.match(/^g-[A-Za-z0-9_-]{32}$/);
      expect(other.id).to.not.equal(group.id);
      expect(await feed.store(update(6, 5, { group: other }))).to.equal("stored");
      expect((await feed.list("ada", { limit: 10 })).items.map((i) => i.eventId).sort()).to.deep.equal([group.id, other.id].sort());
    });
  });

  describe("in the local mode, over HTTP and a WebSocket", () => {
    let tidings: LocalTidings;
    let producer: string;
    let alice: string;

    before(async () => {
      tidings = await startQuiet();
      producer = await tidings.signToken("svc-reports", { scope: producerScopes(tidings) });
      alice = await devToken(tidings, "alice");
    });
    after(async () => tidings?.stop());

    const send = (body: Record<string, unknown>) =>
      fetch(tidings.endpoints.notifications, {
        method: "POST",
        headers: { authorization: `Bearer ${producer}` },
        body: JSON.stringify(body),
      });
    const me = async (path: string, init: RequestInit = {}) =>
      (await (await fetch(`${tidings.endpoints.api}${path}`, { ...init, headers: { authorization: `Bearer ${alice}` } })).json()) as any;

    it("sends open connections update frames for one item, lists it once with the newest progress, and a read opens the newest update", async () => {
      const socket = await openSocket(`${tidings.endpoints.websocket}/?token=${encodeURIComponent(alice)}`);
      const reader = frames(socket);
      const eventIds: string[] = [];
      try {
        for (const [i, status] of ["started", "halfway", "writing"].entries()) {
          const answer = await send({
            userId: "alice",
            type: "job.progress",
            data: { jobName: "Export", status },
            progress: 30 * (i + 1),
            groupKey: "export:7",
          });
          expect(answer.status).to.equal(202);
          eventIds.push(((await answer.json()) as { eventId: string }).eventId);
          const frame = await reader.nextJson(20_000);
          expect(frame).to.deep.include({
            type: "update",
            groupKey: "export:7",
            eventId: eventIds[i],
            message: `Export: ${status}`,
            progress: 30 * (i + 1),
          });
          expect(frame.id).to.equal(groupItemId("svc-reports", "export:7"));
        }
      } finally {
        socket.close();
      }
      const id = groupItemId("svc-reports", "export:7");
      const page = await me("/me/notifications?limit=50");
      const grouped = page.items.filter((item: { groupKey?: string }) => item.groupKey === "export:7");
      expect(grouped).to.have.length(1);
      expect(grouped[0]).to.deep.include({ eventId: id, progress: 90, content: { text: "Export: writing" } });
      const before = (await me("/me/notifications/count")).unreadCount;
      await me("/me/notifications/read", { method: "POST", body: JSON.stringify({ eventIds: [id] }) });
      expect((await me("/me/notifications/count")).unreadCount).to.equal(before - 1);
      await until(async () => (await tidings.log.get(eventIds[2], "websocket"))?.status === "opened", 10_000, "the newest update opened");
    });

    it("refuses a groupKey with a callback, a bad groupKey, and renotify without groupKey, naming each", async () => {
      const problems = async (body: Record<string, unknown>) => {
        const answer = await send({ userId: "alice", type: "job.progress", data: { jobName: "Export", status: "x" }, ...body });
        expect(answer.status).to.equal(400);
        return ((await answer.json()) as { problems: { field: string }[] }).problems.map((p) => p.field);
      };
      expect(await problems({ groupKey: "export:7", callback: "https://app.example.com/exports/7" })).to.include("groupKey");
      expect(await problems({ groupKey: "no spaces" })).to.deep.equal(["groupKey"]);
      expect(await problems({ renotify: true })).to.deep.equal(["renotify"]);
    });
  });
});
