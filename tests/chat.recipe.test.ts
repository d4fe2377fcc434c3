/**
 * The README's local chat recipe (issue 22): chat switched on in the stack config, two dev tokens with
 * the chat:send scope and the room, two sockets in the room, and the seeds' `data` frames.
 */
import { expect } from "chai";
import type { LocalTidings } from "../local/tidings";
import { startQuiet } from "./helpers/localTidings";
import { frames, openSocket } from "./helpers/sockets";

describe("chat as the README's recipe has it (npm start)", function () {
  this.timeout(60_000);
  let tidings: LocalTidings;
  before(async () => {
    // The recipe's config switch: tidings:websocket.sendMessage.enabled: true.
    tidings = await startQuiet({ editConfig: (raw) => (raw.websocket = { sendMessage: { enabled: true } }) });
  });
  after(() => tidings?.stop());

  const chatToken = async (userId: string) => {
    const response = await fetch(tidings.endpoints.devToken, {
      method: "POST",
      body: JSON.stringify({ userId, scope: "chat:send", rooms: ["ops"] }),
    });
    return ((await response.json()) as { token: string }).token;
  };

  it("two users in room ops exchange the seeds' data frames, and message frames too", async () => {
    const url = async (userId: string) => `${tidings.endpoints.websocket}/?token=${encodeURIComponent(await chatToken(userId))}&room=ops`;
    const alice = await openSocket(await url("alice"));
    const bob = await openSocket(await url("bob"));
    try {
      const [aliceHears, bobHears] = [frames(alice), frames(bob)];
      alice.send(JSON.stringify({ action: "sendmessage", data: "hello from alice" }));
      expect(await bobHears.nextJson()).to.deep.equal({ type: "message", room: "ops", from: "alice", message: "hello from alice" });
      expect((await aliceHears.nextJson()).message).to.equal("hello from alice");
      bob.send(JSON.stringify({ action: "sendmessage", message: "hi alice" }));
      expect(await aliceHears.nextJson()).to.deep.equal({ type: "message", room: "ops", from: "bob", message: "hi alice" });
      expect((await bobHears.nextJson()).message, "bob's own message comes back to him").to.equal("hi alice");
      bob.send(JSON.stringify({ action: "sendmessage", data: "a", message: "b" }));
      expect(await bobHears.nextJson()).to.include({ type: "error", error: "invalid_message" });
    } finally {
      alice.close();
      bob.close();
    }
  });
});
