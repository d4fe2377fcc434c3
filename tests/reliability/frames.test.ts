/**
 * Bad WebSocket frames through the local gateway of the whole local system, with real `ws` clients:
 * each gets an error frame and the same connection keeps working (a following sendmessage reaches
 * the room; chat is switched on here, it is off by default), except a frame over API Gateway's 128 KB message limit, which AWS answers by closing the
 * connection with 1009 (Message Too Big): the gateway does the same, other connections are
 * unaffected, and the client can reconnect and use the API.
 */
import { expect } from "chai";
import WebSocket from "ws";
import { MAX_MESSAGE_BYTES } from "../../local/gateway";
import { frames, type FrameReader, openSocket } from "../helpers/sockets";
import { type Harness, startHarness } from "./harness";

interface Client {
  ws: WebSocket;
  reader: FrameReader;
}

describe("reliability: bad WebSocket frames (local gateway, real clients)", function () {
  this.timeout(30_000);
  let h: Harness;
  let sender: Client;
  let observer: Client;
  const open: WebSocket[] = [];

  async function connect(userId: string): Promise<Client> {
    const token = await h.tidings.signToken(userId, { scope: "chat:send", rooms: ["frames"] });
    const ws = await openSocket(`${h.tidings.endpoints.websocket}/?token=${encodeURIComponent(token)}&room=frames`);
    open.push(ws);
    return { ws, reader: frames(ws) };
  }

  /** Sends a valid broadcast from `from` and checks both clients get it: the connection still works. */
  async function stillWorks(from: Client, text: string) {
    from.ws.send(JSON.stringify({ action: "sendmessage", message: text }));
    for (const client of [from, observer]) {
      expect(await client.reader.nextJson(3000)).to.deep.equal({ type: "message", room: "frames", from: "frank", message: text });
    }
  }

  before(async () => {
    h = await startHarness({
      editConfig: (raw) => void (raw.websocket = { sendMessage: { enabled: true, perMinute: 1000 } }),
    });
    sender = await connect("frank");
    observer = await connect("olga");
  });
  after(async () => {
    for (const ws of open) ws.terminate();
    await h?.stop();
  });

  afterEach(() => {
    // Every test reads exactly the frames it caused.
    expect(sender.reader.queued, "unread frames on the sender").to.equal(0);
    expect(observer.reader.queued, "unread frames on the observer").to.equal(0);
  });

  const cases: { name: string; frame: () => string | Buffer; error: string; binary?: boolean }[] = [
    { name: "a non-JSON text frame", frame: () => "hello, is anyone there?", error: "invalid_json" },
    { name: "a JSON array", frame: () => "[1,2,3]", error: "invalid_json" },
    { name: "an unknown action", frame: () => JSON.stringify({ action: "launch", message: "x" }), error: "unknown_action" },
    { name: "JSON without an action", frame: () => JSON.stringify({ message: "where does this go?" }), error: "missing_action" },
    { name: "an action that is not a string", frame: () => JSON.stringify({ action: { name: "sendmessage" } }), error: "missing_action" },
    {
      // 40,000 levels of nesting (~120 KB, under the size limit) as the action's value.
      name: "deeply nested JSON",
      frame: () => `{"action":${"[".repeat(40_000)}${"]".repeat(40_000)},"message":"deep"}`,
      error: "missing_action",
    },
    { name: "a binary frame", frame: () => Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0xff, 0x7b]), error: "invalid_json", binary: true },
    {
      name: "sendmessage with a message that is not a string",
      frame: () => JSON.stringify({ action: "sendmessage", message: { nested: true } }),
      error: "invalid_message",
    },
  ];

  for (const c of cases) {
    it(`answers ${c.name} with a "${c.error}" error frame, and the same connection keeps working`, async () => {
      const frame = c.frame();
      expect(Buffer.byteLength(frame)).to.be.below(MAX_MESSAGE_BYTES);
      sender.ws.send(frame, { binary: Boolean(c.binary) });
      const answer = await sender.reader.nextJson(3000);
      expect(answer).to.include({ type: "error", error: c.error });
      expect(answer.message).to.be.a("string").and.not.equal("");
      expect(sender.ws.readyState).to.equal(WebSocket.OPEN);
      await stillWorks(sender, `still here after ${c.name}`);
    });
  }

  it("closes the connection with 1009 for a 200 KB frame, as API Gateway does; others are unaffected and the client reconnects", async () => {
    const victim = await connect("frank");
    const closed = new Promise<{ code: number }>((resolve) => victim.ws.once("close", (code) => resolve({ code })));
    victim.ws.send(JSON.stringify({ action: "sendmessage", message: "x".repeat(200 * 1024) }));
    expect((await closed).code).to.equal(1009);
    expect(victim.reader.queued, "no frame, error or broadcast, reached the closed socket").to.equal(0);

    // The gateway ran $disconnect for it. Nobody got the oversized message: the next frame each
    // remaining client reads (in stillWorks) is the following broadcast.
    await waitFor(async () =>
      h.decisions.some((d) => d.component === "websocket-disconnect" && d.outcome === "disconnected" && d.userId === "frank"),
    );
    expect(h.decisions.filter((d) => d.component === "websocket-chat" && d.userId === "frank" && d.outcome === "sent")).to.have.length(
      cases.length,
    );

    // The other connections still work, the sender's included.
    expect(sender.ws.readyState).to.equal(WebSocket.OPEN);
    expect(observer.ws.readyState).to.equal(WebSocket.OPEN);
    await stillWorks(sender, "after the oversized frame");

    // The client comes back with a new connection and uses the API.
    const again = await connect("frank");
    again.ws.send(JSON.stringify({ action: "sendmessage", message: "reconnected" }));
    for (const client of [again, sender, observer]) {
      expect(await client.reader.nextJson(3000)).to.deep.equal({ type: "message", room: "frames", from: "frank", message: "reconnected" });
    }
    again.ws.send("not json");
    expect(await again.reader.nextJson(3000)).to.include({ type: "error", error: "invalid_json" });
    again.ws.close();
  });
});

async function waitFor(condition: () => Promise<boolean> | boolean, timeoutMs = 3000) {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start > timeoutMs) throw new Error(`not true within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
