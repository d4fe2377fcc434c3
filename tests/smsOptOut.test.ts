/**
 * SMS STOP (issue 21 §7): a number whose holder opted out at the carrier is not sent to. SNS refuses
 * the Publish (OptedOut); the worker ends the delivery `skipped` (reason
 * `opted out at carrier`) and records the number on the contact, so the service skips SMS for it from
 * then on (`skipped: opted out at carrier`) until a new number is set. In the local mode over HTTP, with
 * `POST /dev/sms/stop` playing the reply.
 */
import { expect } from "chai";
import type { LocalTidings } from "../local/tidings";
import { type LocalCaller, localCaller, startQuiet } from "./helpers/localTidings";
import { until } from "./helpers/sockets";

describe("SMS STOP: a number opted out at the carrier", function () {
  this.timeout(60_000);
  let tidings: LocalTidings;
  let admin: string;
  let call: LocalCaller["call"];
  let text: () => ReturnType<LocalCaller["ship"]>;

  before(async () => {
    tidings = await startQuiet();
    const caller = await localCaller(tidings);
    ({ admin, call } = caller);
    text = () => caller.ship("alice", ["websocket", "sms"]);
  });
  after(async () => tidings?.stop());

  const smsTo = (phone: string) => tidings.sinks.sns.received.filter((m) => m.phoneNumber === phone).length;

  it("skips the SMS to an opted-out number, records it on the contact, and skips later ones up front", async () => {
    const stop = await call("/dev/sms/stop", { phone: "+15555550100" });
    expect(stop).to.deep.equal({ status: 200, body: { phone: "+15555550100", optedOut: true } });
    const before = smsTo("+15555550100");

    const first = await text();
    expect(first.channels.sms).to.equal("queued");
    await until(async () => (await tidings.log.get(first.eventId, "sms"))?.status === "skipped", 20_000, "the SMS skipped");
    expect(await tidings.log.get(first.eventId, "sms")).to.include({ status: "skipped", reason: "opted out at carrier" });

    const second = await text();
    expect(second.channels).to.deep.equal({ websocket: "queued", sms: "skipped: opted out at carrier" });
    expect(smsTo("+15555550100")).to.equal(before);
  });

  it("texts a new number again", async () => {
    expect((await call("/users/alice/contact", { phone: "+15555550111" }, admin, "PUT")).status).to.equal(200);
    const sent = await text();
    expect(sent.channels.sms).to.equal("queued");
    await until(async () => (await tidings.log.get(sent.eventId, "sms"))?.status === "sent", 20_000, "the SMS to the new number");
    expect(smsTo("+15555550111")).to.equal(1);
  });

  it("answers 400 naming phone for a number that is not E.164", async () => {
    const bad = await call("/dev/sms/stop", { phone: "0555 0100" });
    expect(bad.status).to.equal(400);
    expect(bad.body.problems[0].field).to.equal("phone");
  });
});
