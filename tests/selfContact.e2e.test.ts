/**
 * Self-service contact details (issue 22 §7), in the local mode over HTTP: a user enters their own phone
 * number and e-mail address on the end-user API; each is stored unverified and gets a code through its
 * channel's pipeline (the SMS sink, the SES inbox). Until the code comes back, notifications skip it
 * (`skipped: unverified`); the code (or the e-mail's link, whose GET changes nothing) verifies it, and the
 * next notification reaches it. Wrong, expired-by-tries and foreign codes, bad input, the hourly limit,
 * and a producer's write (which counts as verified) are each checked.
 */
import { expect } from "chai";
import type { LocalTidings } from "../local/tidings";
import { type LocalCaller, localCaller, startQuiet } from "./helpers/localTidings";
import { until } from "./helpers/sockets";

describe("self-service contact details (local mode, over HTTP)", function () {
  this.timeout(90_000);
  let tidings: LocalTidings;
  let caller: LocalCaller;
  let users = 0;
  const newUser = () => `self-${process.pid}-${++users}`;

  async function asUser(userId: string, method: string, path: string, body?: unknown) {
    const token = await tidings.signToken(userId);
    const response = await fetch(`${tidings.endpoints.api}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as any };
  }

  /** The code the SMS sink got for `phone` (the newest). */
  async function smsCode(phone: string): Promise<string> {
    let code: string | undefined;
    await until(
      async () => {
        const texts = tidings.sinks.sns.received.filter((m) => m.phoneNumber === phone).map((m) => m.message);
        code = /verification code is (\d{6})/.exec(texts.at(-1) ?? "")?.[1];
        return code !== undefined;
      },
      20_000,
      `the code reached ${phone}`,
    );
    return code!;
  }

  /** The newest e-mail the SES inbox got for `email`. */
  async function newestMail(email: string): Promise<{ subject: string; text: string; html?: string }> {
    let mail: any;
    await until(
      async () => {
        const store = (await (await fetch(`${tidings.endpoints.sesInbox}/store`)).json()) as { emails: any[] };
        mail = store.emails.filter((e) => JSON.stringify(e.destination).includes(email) && /Confirm/.test(e.subject)).at(-1);
        return mail !== undefined;
      },
      20_000,
      `the code reached ${email}`,
    );
    return { subject: mail.subject, text: mail.body?.text ?? "", html: mail.body?.html };
  }

  before(async () => {
    tidings = await startQuiet();
    caller = await localCaller(tidings);
  });
  after(async () => tidings?.stop());

  it("stores a phone number unverified, skips it until the SMS code comes back, then delivers to it", async () => {
    const userId = newUser();
    const phone = "+15555550142";
    const put = await asUser(userId, "PUT", "/me/contact", { phone });
    expect(put).to.deep.include({ status: 200 });
    expect(put.body.phone).to.deep.include({ address: phone, verified: false });
    expect(Date.parse(put.body.phone.expiresAt)).to.be.greaterThan(Date.now());

    const skipped = await caller.ship(userId, ["websocket", "sms"]);
    expect(skipped.channels).to.deep.equal({ websocket: "queued", sms: "skipped: unverified" });
    // The SMS channel alone: nothing can reach the user, and the answer says why.
    const unreachable = await caller.call("/notifications", {
      userId,
      type: "order.shipped",
      channels: ["sms"],
      data: { orderId: "O-1", carrier: "DHL", trackingUrl: "https://track.example.com/O-1" },
    });
    expect(unreachable.status).to.equal(422);
    expect(unreachable.body.problems[0]).to.deep.include({ field: "contact.phone" });
    expect(unreachable.body.problems[0].problem).to.match(/not verified yet/);

    const code = await smsCode(phone);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, "0");
    const refused = await asUser(userId, "POST", "/me/contact/verify", { channel: "sms", code: wrong });
    expect(refused.status).to.equal(400);
    expect(refused.body.problems[0]).to.deep.include({ field: "code" });
    expect(refused.body.problems[0].problem).to.match(/does not match \(4 tries left\)/);

    const verified = await asUser(userId, "POST", "/me/contact/verify", { channel: "sms", code });
    expect(verified).to.deep.include({ status: 200, body: { phone: { address: phone, verified: true } } });
    expect((await asUser(userId, "GET", "/me/contact")).body).to.deep.equal({ phone: { address: phone, verified: true } });

    const before = tidings.sinks.sns.received.length;
    const { eventId } = await caller.ship(userId, ["sms"]);
    await until(async () => (await tidings.log.get(eventId, "sms"))?.status === "sent", 20_000, "the SMS was sent");
    expect(tidings.sinks.sns.received.slice(before).map((m) => m.phoneNumber)).to.include(phone);
  });

  it("confirms an e-mail address by its link: GET shows a button and changes nothing, POST confirms", async () => {
    const userId = newUser();
    const email = `${userId}@example.com`;
    expect((await asUser(userId, "PUT", "/me/contact", { email })).body.email).to.deep.include({ address: email, verified: false });
    const mail = await newestMail(email);
    expect(mail.subject).to.equal("Confirm your e-mail address");
    const link = /(http:\/\/127\.0\.0\.1:\d+\/v\/[A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
    expect(link, mail.text).to.be.a("string");

    const page = await fetch(link!);
    expect(page.status).to.equal(200);
    expect(await page.text())
      .to.include(`<form method="post">`)
      .and.include(email);
    expect((await asUser(userId, "GET", "/me/contact")).body.email.verified).to.equal(false);

    const confirmed = await fetch(link!, { method: "POST" });
    expect(confirmed.status).to.equal(200);
    expect(await confirmed.text()).to.include("Confirmed");
    expect((await asUser(userId, "GET", "/me/contact")).body).to.deep.equal({ email: { address: email, verified: true } });
    // Used again (nothing waits any more): not found.
    expect((await fetch(link!, { method: "POST" })).status).to.equal(404);
    // A link that is not one of this stack's.
    expect((await fetch(`${tidings.endpoints.api}/v/${"A".repeat(60)}`)).status).to.equal(404);
  });

  it("a code dies after five wrong tries; another user's code or channel is not found", async () => {
    const userId = newUser();
    const phone = "+15555550143";
    await asUser(userId, "PUT", "/me/contact", { phone });
    const code = await smsCode(phone);
    const wrong = String((Number(code) + 7) % 1_000_000).padStart(6, "0");
    for (let i = 0; i < 5; i++)
      expect((await asUser(userId, "POST", "/me/contact/verify", { channel: "sms", code: wrong })).status).to.equal(400);
    const late = await asUser(userId, "POST", "/me/contact/verify", { channel: "sms", code });
    expect(late.status).to.equal(400);
    expect(late.body.problems[0].problem).to.match(/too many wrong codes/);
    expect((await asUser(userId, "GET", "/me/contact")).body.phone.verified).to.equal(false);

    const other = await asUser(newUser(), "POST", "/me/contact/verify", { channel: "sms", code });
    expect(other.status).to.equal(404);
    expect(other.body.problems[0].field).to.equal("channel");
    expect((await asUser(userId, "POST", "/me/contact/verify", { channel: "email", code })).status).to.equal(404);
  });

  it("refuses bad input naming the field, and writes nothing", async () => {
    const userId = newUser();
    const cases: [string, string, unknown, string][] = [
      ["PUT", "/me/contact", { phone: "555-0100" }, "phone"],
      ["PUT", "/me/contact", { email: "not-an-address" }, "email"],
      ["PUT", "/me/contact", { email: 7 }, "email"],
      ["PUT", "/me/contact", {}, "body"],
      ["PUT", "/me/contact", { email: `${userId}@example.com`, fax: "1" }, "fax"],
      ["POST", "/me/contact/verify", { channel: "pigeon", code: "123456" }, "channel"],
      ["POST", "/me/contact/verify", { channel: "sms", code: "12345" }, "code"],
      ["POST", "/me/contact/verify", { channel: "sms", code: 123456 }, "code"],
    ];
    for (const [method, path, body, field] of cases) {
      const answer = await asUser(userId, method, path, body);
      expect(answer.status, JSON.stringify(body)).to.equal(400);
      expect(
        answer.body.problems.map((p: any) => p.field),
        JSON.stringify(body),
      ).to.include(field);
    }
    expect((await asUser(userId, "GET", "/me/contact")).body).to.deep.equal({});
    expect((await asUser(userId, "DELETE", "/me/contact")).status).to.equal(405);
    // Without the user's token: 401 naming authorization, nothing written.
    for (const [method, path, body] of [
      ["GET", "/me/contact", undefined],
      ["PUT", "/me/contact", { phone: "+15555550150" }],
      ["POST", "/me/contact/verify", { channel: "sms", code: "123456" }],
    ] as const) {
      const response = await fetch(`${tidings.endpoints.api}${path}`, { method, ...(body ? { body: JSON.stringify(body) } : {}) });
      expect(response.status, `${method} ${path}`).to.equal(401);
      expect(((await response.json()) as { problems: { field: string }[] }).problems[0].field).to.equal("authorization");
    }
    expect(tidings.sinks.sns.received.some((m) => m.phoneNumber === "+15555550150")).to.equal(false);
  });

  it("sends at most five codes an hour per address field (429 with Retry-After), and null removes the field", async () => {
    const userId = newUser();
    for (let i = 0; i < 5; i++) expect((await asUser(userId, "PUT", "/me/contact", { phone: `+1555555020${i}` })).status).to.equal(200);
    const limited = await asUser(userId, "PUT", "/me/contact", { phone: "+15555550209" });
    expect(limited.status).to.equal(429);
    expect(limited.body.problems[0].field).to.equal("phone");
    expect(Number(limited.headers.get("retry-after"))).to.be.within(1, 3600);
    expect((await asUser(userId, "GET", "/me/contact")).body.phone.address).to.equal("+15555550204");

    expect((await asUser(userId, "PUT", "/me/contact", { phone: null })).body).to.deep.equal({});
  });

  it("a producer's write counts as verified", async () => {
    const userId = newUser();
    await asUser(userId, "PUT", "/me/contact", { email: `${userId}@example.com` });
    const written = await caller.call("/users/" + userId + "/contact", { email: `${userId}@example.com` }, caller.admin, "PUT");
    expect(written.status).to.equal(200);
    expect((await asUser(userId, "GET", "/me/contact")).body).to.deep.equal({
      email: { address: `${userId}@example.com`, verified: true },
    });
  });
});
