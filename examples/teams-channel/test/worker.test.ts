// The Teams worker as `pulumi up` ships it (its archive's index.js), run against the local AWS servers
// and a stand-in Teams webhook.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { ChannelDelivery, SqsBatchResponse, SqsEvent } from "tidings";
import {
  acceptDeliveries,
  deliveryStatus,
  type LocalAws,
  outputValue,
  settle,
  shippedCode,
  sqsEventOf,
  startLocalAws,
  useMocks,
} from "tidings/testing";
import { stackConfig } from "./config";

/** A stand-in Teams incoming webhook: records each card, and answers the statuses it is told to first. */
async function startTeams() {
  const cards: { path: string; card: Record<string, unknown> }[] = [];
  const answers: number[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const status = answers.shift() ?? 200;
      if (status === 200) cards.push({ path: req.url ?? "", card: JSON.parse(Buffer.concat(chunks).toString("utf8")) });
      res.writeHead(status, { "content-type": "text/plain" }).end(status === 200 ? "1" : "Service Unavailable");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, cards, answers, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe("the shipped Teams worker", () => {
  let aws: LocalAws;
  let teams: Awaited<ReturnType<typeof startTeams>>;
  let handler: (event: SqsEvent) => Promise<SqsBatchResponse>;
  let logTable: string;

  before(async () => {
    useMocks({ config: stackConfig, secrets: ["tidings:tokenSigningSecret"], project: "teams-channel", stack: "dev" });
    const { tidings } = require("../index") as typeof import("../index");
    await settle();
    const code = await shippedCode(tidings.channels.teams.worker);
    // The archive in a folder of the project: only the AWS SDK resolves from node_modules, as Lambda provides it.
    const dir = path.join(__dirname, "..", ".shipped");
    fs.mkdirSync(dir, { recursive: true });
    for (const [file, text] of Object.entries(code.files)) fs.writeFileSync(path.join(dir, file), text);
    aws = await startLocalAws();
    aws.applyEnv();
    const tables = await outputValue(tidings.outputs.tables);
    await aws.createTables(tables);
    logTable = tables.notificationLog;
    teams = await startTeams();
    handler = require(path.join(dir, "index.js"))[code.exportName];
  });

  after(async () => {
    await teams?.stop();
    await aws?.stop();
  });

  const delivery = (eventId: string, user: string): ChannelDelivery => ({
    eventId,
    userId: user,
    type: "deploy.finished",
    channel: "teams",
    kind: "actionable",
    content: { subject: "checkout 2.4.1 is live", text: "checkout 2.4.1 was deployed to production by dana." },
    link: "https://deploys.example.com/checkout/2.4.1",
    address: { webhookUrl: `${teams.url}/webhook/${user}` },
    createdAt: new Date().toISOString(),
  });

  it("posts each user's card to their own webhook, and a replay of the same delivery is not posted again", async () => {
    const sent = [delivery("e-1", "dana"), delivery("e-2", "lee")];
    await acceptDeliveries(logTable, sent);
    assert.deepEqual(await handler(sqsEventOf(sent)), { batchItemFailures: [] });
    // A batch's deliveries are sent side by side: in any order.
    assert.deepEqual(teams.cards.map((c) => c.path).sort(), ["/webhook/dana", "/webhook/lee"]);
    for (const { card } of teams.cards) assert.equal(card.text, "checkout 2.4.1 was deployed to production by dana.");
    assert.equal((await deliveryStatus(logTable, "e-1", "teams")).status, "sent");

    assert.deepEqual(await handler(sqsEventOf([sent[0]], 2)), { batchItemFailures: [] });
    assert.equal(teams.cards.length, 2, "the replay was deduplicated");
  });

  it("reports a 503 from Teams as a batch item failure, so SQS retries it, and sends it on the retry", async () => {
    const failing = delivery("e-3", "dana");
    await acceptDeliveries(logTable, [failing]);
    teams.answers.push(503);
    assert.deepEqual(await handler(sqsEventOf([failing])), { batchItemFailures: [{ itemIdentifier: "e-3/teams" }] });
    assert.equal(teams.cards.length, 2);
    assert.deepEqual(await handler(sqsEventOf([failing], 2)), { batchItemFailures: [] });
    assert.equal(teams.cards.length, 3);
    assert.equal((await deliveryStatus(logTable, "e-3", "teams")).status, "sent");
  });
});
