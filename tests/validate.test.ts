/**
 * Unit tests of what the producer API accepts: each request rule, every problem named at once, the
 * address validators, opt-in precedence and template rendering.
 */
import { expect } from "chai";
import { resolveAddress } from "../runtime/contacts";
import { isOptedIn } from "../runtime/settings";
import { contentFromMessage, parseTemplate, renderTemplate, type Template } from "../runtime/templates";
import { isDeviceToken, isE164, isEmail, isSlackWebhookUrl, validateNotificationRequest } from "../runtime/validate";

const ctx = {
  enabledChannels: ["websocket", "email", "sms", "slack"],
  types: {
    "order.shipped": { channels: ["websocket", "email", "sms", "slack", "push"], defaultOptIn: true },
    "job.progress": { channels: ["websocket"], defaultOptIn: true },
    "push.only": { channels: ["push"], defaultOptIn: true },
  },
};
const ok = { userId: "u-1", type: "order.shipped" };

function problems(body: unknown) {
  const result = validateNotificationRequest(typeof body === "string" ? body : JSON.stringify(body), ctx);
  if (result.ok) throw new Error(`expected a rejection of ${JSON.stringify(body)}`);
  return result;
}
const fields = (body: unknown) => problems(body).problems.map((p) => p.field);
const accepts = (body: unknown) => validateNotificationRequest(JSON.stringify(body), ctx).ok;

describe("validateNotificationRequest", () => {
  it("accepts a minimal and a complete request, returning it as parsed", () => {
    expect(validateNotificationRequest(JSON.stringify(ok), ctx)).to.deep.equal({ ok: true, request: ok });
    const full = {
      eventId: "order-1001_shipped",
      userId: "Ada Lovelace ✓",
      type: "order.shipped",
      channels: ["email", "sms"],
      template: "order.shipped",
      data: { orderId: "A-1", items: [{ id: 1, name: "café" }], gift: false, note: null, lines: "a\nb" },
      callback: "https://shop.example.com/orders/A-1",
      progress: 0,
    };
    expect(validateNotificationRequest(JSON.stringify(full), ctx)).to.deep.equal({ ok: true, request: full });
    // This machine only in the local mode.
    const local = { ...ctx, loopbackCallbacks: true };
    expect(validateNotificationRequest(JSON.stringify({ ...ok, callback: "http://localhost:3000/x" }), local).ok).to.equal(true);
    expect(validateNotificationRequest(JSON.stringify({ ...ok, callback: "http://127.0.0.1/x" }), local).ok).to.equal(true);
    expect(accepts({ ...ok, callback: "http://localhost:3000/x" })).to.equal(false);
    expect(accepts({ ...ok, message: "line one\nline two\ttab" })).to.equal(true);
  });

  it("checks size on bytes before parsing: 413 over 256 KB, even for invalid JSON", () => {
    const big = "é".repeat(131_073); // 262 146 bytes, 131 073 characters
    const result = problems(`{"message":"${big}"`);
    expect(result.status).to.equal(413);
    expect(result.problems).to.deep.equal([{ field: "body", problem: "is 262159 bytes; the limit is 262144" }]);
    expect(validateNotificationRequest(`${" ".repeat(256 * 1024 - 40)}${JSON.stringify(ok)}`, ctx).ok).to.equal(true);
  });

  it("names the body for a missing body, invalid JSON and non-objects", () => {
    expect(validateNotificationRequest(undefined, ctx)).to.deep.equal({
      ok: false,
      status: 400,
      problems: [{ field: "body", problem: "is required: a JSON object" }],
    });
    expect(problems("{").problems[0])
      .to.include({ field: "body" })
      .and.have.property("problem")
      .that.match(/not valid JSON/);
    expect(problems("null").problems[0].problem).to.equal("must be a JSON object, not null");
    expect(problems("[]").problems[0].problem).to.equal("must be a JSON object, not an array");
    expect(problems("42").problems[0].problem).to.equal("must be a JSON object, not a number");
  });

  it("names every problem of a request at once", () => {
    const result = problems({
      eventId: "has space",
      userId: "",
      type: "nope",
      channels: ["fax"],
      template: "../etc/passwd",
      data: [],
      message: "",
      callback: "ftp://x",
      progress: -1,
      extra: 1,
    });
    expect(result.status).to.equal(400);
    expect(result.problems.map((p) => p.field)).to.have.members([
      "eventId",
      "userId",
      "type",
      "channels[0]",
      "template",
      "data",
      "message",
      "callback",
      "progress",
      "extra",
      "template", // and again: message and template together
    ]);
    // "both message and template" is named too.
    expect(fields({ ...ok, message: "hi", template: "order.shipped" })).to.deep.equal(["template"]);
  });

  it("eventId: 1–128 of [A-Za-z0-9_-]", () => {
    expect(accepts({ ...ok, eventId: "a".repeat(128) })).to.equal(true);
    for (const eventId of ["", "a".repeat(129), "a.b", "a/b", "ü", 5, null])
      expect(fields({ ...ok, eventId }), String(eventId)).to.deep.equal(["eventId"]);
  });

  it("userId: 1–128 printable characters", () => {
    expect(accepts({ ...ok, userId: "😀".repeat(128) })).to.equal(true);
    for (const userId of ["", "😀".repeat(129), "a\u0000", "a\nb", "a\u200Bb", "a\u202Eb", "a\uFEFF", "a\uD800", "a\u2028", 7]) {
      expect(fields({ ...ok, userId }), JSON.stringify(userId)).to.deep.equal(["userId"]);
    }
    expect(fields({ type: "order.shipped" })).to.deep.equal(["userId"]);
  });

  it("type: matches the pattern and is declared", () => {
    expect(problems({ ...ok, type: "order.lost" }).problems).to.deep.equal([
      { field: "type", problem: "is not a notification type of this stack" },
    ]);
    expect(problems({ ...ok, type: "Order" }).problems).to.deep.equal([
      { field: "type", problem: "must match ^[a-z0-9][a-z0-9._-]{0,63}$" },
    ]);
    expect(fields({ ...ok, type: "constructor" })).to.deep.equal(["type"]);
    expect(fields({ ...ok, type: "__proto__" })).to.deep.equal(["type"]);
    expect(problems({ ...ok, type: "push.only" }).problems).to.deep.equal([
      { field: "type", problem: "push.only has no enabled channel in this stack" },
    ]);
  });

  it("channels: distinct, enabled, allowed by the type, not empty, not huge", () => {
    expect(accepts({ ...ok, channels: ["slack", "websocket"] })).to.equal(true);
    expect(problems({ ...ok, channels: ["push"] }).problems[0].problem).to.equal(
      "is not an enabled channel (one of: websocket, email, sms, slack)",
    );
    expect(problems({ ...ok, type: "job.progress", channels: ["websocket", "sms"] }).problems).to.deep.equal([
      { field: "channels[1]", problem: '"sms" is not a channel of type job.progress (one of: websocket)' },
    ]);
    expect(fields({ ...ok, channels: ["email", "email"] })).to.deep.equal(["channels"]);
    expect(fields({ ...ok, channels: [] })).to.deep.equal(["channels"]);
    expect(fields({ ...ok, channels: "email" })).to.deep.equal(["channels"]);
    expect(fields({ ...ok, channels: [1] })).to.deep.equal(["channels[0]"]);
    expect(fields({ ...ok, channels: Array(10_000).fill("email") })).to.include("channels");
    const many = problems({ ...ok, channels: Array(5_000).fill("fax") }).problems;
    expect(many).to.have.length(51);
    expect(many[50]).to.deep.equal({ field: "body", problem: "and 4951 more problems" });
  });

  it("message: a non-empty string of at most 4 KB, valid Unicode, no control characters", () => {
    expect(accepts({ ...ok, message: "x".repeat(4096) })).to.equal(true);
    expect(fields({ ...ok, message: "x".repeat(4097) })).to.deep.equal(["message"]);
    expect(fields({ ...ok, message: "é".repeat(2049) })).to.deep.equal(["message"]);
    expect(fields({ ...ok, message: "a\u0000b" })).to.deep.equal(["message"]);
    expect(fields({ ...ok, message: "a\uDC00" })).to.deep.equal(["message"]);
    expect(fields({ ...ok, message: 5 })).to.deep.equal(["message"]);
  });

  it("callback: https of ASCII characters, never this machine outside the local mode; no credentials", () => {
    for (const callback of [
      "https://localhost/x",
      "https://shop.example.com/ü",
      "http://example.com/",
      "javascript:alert(1)",
      "data:text/html,x",
      "//example.com",
      "https://user:pw@example.com/",
      "https://a b.com",
      `https://x.com/${"a".repeat(2100)}`,
      1,
    ]) {
      expect(fields({ ...ok, callback }), String(callback)).to.deep.equal(["callback"]);
    }
  });

  it("progress: a number from 0 to 100", () => {
    expect(accepts({ ...ok, progress: 100 })).to.equal(true);
    expect(accepts({ ...ok, progress: 33.3 })).to.equal(true);
    for (const progress of [-0.1, 100.1, "50", null, Number.POSITIVE_INFINITY])
      expect(fields({ ...ok, progress }), String(progress)).to.deep.equal(["progress"]);
  });

  it("data: a plain object, at most 5 deep and 100 keys, strings ≤ 4 KB, keys are variable names", () => {
    expect(accepts({ ...ok, data: { a: { b: { c: { d: { e: 1 } } } } } })).to.equal(true);
    expect(fields({ ...ok, data: { a: { b: { c: { d: { e: { f: 1 } } } } } } })).to.deep.equal(["data.a.b.c.d.e"]);
    expect(fields({ ...ok, data: { list: [[[[["deep"]]]]] } })).to.deep.equal(["data.list[0][0][0][0]"]);
    expect(accepts({ ...ok, data: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])) })).to.equal(true);
    expect(problems({ ...ok, data: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i])) }).problems[0].problem).to.match(
      /more than 100 keys/,
    );
    expect(fields({ ...ok, data: { items: Array(500).fill(1) } })).to.deep.equal(["data.items"]);
    expect(fields({ ...ok, data: { s: "x".repeat(4097) } })).to.deep.equal(["data.s"]);
    expect(fields({ ...ok, data: { s: "\uD83D" } })).to.deep.equal(["data.s"]);
    expect(fields({ ...ok, data: { s: "\u0007" } })).to.deep.equal(["data.s"]);
    expect(fields({ ...ok, data: "x" })).to.deep.equal(["data"]);
    expect(fields({ ...ok, data: null })).to.deep.equal(["data"]);
    expect(problems(`{"userId":"u","type":"order.shipped","data":{"__proto__":{"polluted":true}}}`).problems).to.deep.equal([
      { field: "data.__proto__", problem: '"__proto__" is a reserved key' },
    ]);
    expect(fields({ ...ok, data: { nested: { constructor: { prototype: 1 } } } })).to.deep.equal(["data.nested.constructor"]);
    expect(problems({ ...ok, data: { "{{#lambda}}": 1, "a.b": 2 } }).problems.map((p) => p.problem)).to.deep.equal([
      'key "{{#lambda}}" is not a variable name (^[A-Za-z_][A-Za-z0-9_-]{0,63}$)',
      'key "a.b" is not a variable name (^[A-Za-z_][A-Za-z0-9_-]{0,63}$)',
    ]);
    expect(({} as any).polluted).to.equal(undefined);
  });

  it("rejects unknown fields, prototype keys included, by name", () => {
    expect(problems({ ...ok, priority: 1 }).problems).to.deep.equal([
      { field: "priority", problem: "is not a field of a notification request" },
    ]);
    expect(fields(`{"userId":"u","type":"order.shipped","__proto__":{"admin":true},"constructor":{}}`)).to.deep.equal([
      "__proto__",
      "constructor",
    ]);
  });
});

describe("address validators", () => {
  it("isEmail", () => {
    for (const good of ["ada@example.com", "a.b+tag@sub.example.co.uk", "x_y@ex-ample.io"]) expect(isEmail(good), good).to.equal(true);
    for (const bad of [
      "",
      "ada",
      "ada@",
      "@example.com",
      "ada@example",
      "a b@example.com",
      "ada@exa mple.com",
      "ada@@example.com",
      "ada@example.com\n",
      `${"a".repeat(65)}@example.com`,
      `a@${"b".repeat(250)}.com`,
      42,
    ]) {
      expect(isEmail(bad), JSON.stringify(bad)).to.equal(false);
    }
  });

  it("isE164", () => {
    for (const good of ["+14155550123", "+447911123456", "+12"]) expect(isE164(good), good).to.equal(true);
    for (const bad of ["14155550123", "+0123456", "+1 415 555 0123", "+1234567890123456", "+", "+1-415", 14155550123])
      expect(isE164(bad), String(bad)).to.equal(false);
  });

  it("isDeviceToken", () => {
    expect(isDeviceToken("apns", "a".repeat(64))).to.equal(true);
    expect(isDeviceToken("apns", "0123456789ABCDEF".repeat(4))).to.equal(true);
    expect(isDeviceToken("apns", "g".repeat(64))).to.equal(false);
    expect(isDeviceToken("apns", "a".repeat(63))).to.equal(false);
    expect(isDeviceToken("fcm", `${"A1_:-".repeat(20)}`)).to.equal(true);
    expect(isDeviceToken("fcm", "a".repeat(99))).to.equal(false);
    expect(isDeviceToken("fcm", "a".repeat(4097))).to.equal(false);
    expect(isDeviceToken("fcm", `${"a".repeat(120)} `)).to.equal(false);
    expect(isDeviceToken("wns", "a".repeat(64))).to.equal(false);
  });

  it("isSlackWebhookUrl: hooks.slack.com, or an allowed origin", () => {
    expect(isSlackWebhookUrl("https://hooks.slack.com/services/T000/B000/XXXX")).to.equal(true);
    expect(isSlackWebhookUrl("http://hooks.slack.com/services/T000/B000/XXXX")).to.equal(false);
    expect(isSlackWebhookUrl("https://hooks.slack.com.evil.com/services/T000/B000/XXXX")).to.equal(false);
    expect(isSlackWebhookUrl("https://hooks.slack.com/services/T000/B000/XXXX/../../x")).to.equal(false);
    expect(isSlackWebhookUrl("http://127.0.0.1:4567/services/T/B/x")).to.equal(false);
    expect(isSlackWebhookUrl("http://127.0.0.1:4567/services/T/B/x", ["http://127.0.0.1:4567"])).to.equal(true);
    expect(isSlackWebhookUrl("http://127.0.0.1:4568/services/T/B/x", ["http://127.0.0.1:4567"])).to.equal(false);
  });

  it("resolveAddress says what is wrong without repeating the value", () => {
    expect(resolveAddress("websocket", undefined)).to.deep.equal({ ok: true, address: {} });
    expect(resolveAddress("email", undefined)).to.deep.include({ ok: false, reason: "missing", problem: "contact has no email" });
    const bad = resolveAddress("email", { userId: "u", email: "secret-but-broken" });
    expect(bad).to.deep.include({ ok: false, reason: "invalid", field: "email" });
    expect(JSON.stringify(bad)).to.not.include("secret-but-broken");
    const push = resolveAddress("push", {
      userId: "u",
      device_tokens: [
        { platform: "apns", token: "f".repeat(64) },
        { platform: "apns", token: "short" },
        { platform: "wns", token: "x" },
      ],
    });
    expect(push).to.deep.equal({ ok: true, address: { deviceTokens: [{ platform: "apns", token: "f".repeat(64) }] } });
    expect(resolveAddress("push", { userId: "u", device_tokens: [{ platform: "fcm", token: "x" }] })).to.deep.include({
      ok: false,
      reason: "invalid",
      problem: "device_tokens [0].token is not 100–4096 characters of A-Z a-z 0-9 _ : -",
    });
    expect(resolveAddress("push", { userId: "u", device_tokens: "x" })).to.deep.include({ ok: false, reason: "invalid" });
    expect(
      resolveAddress("slack", { userId: "u", external_channels: { slack: { webhookUrl: "https://hooks.slack.com/services/T/B/c" } } }),
    ).to.deep.equal({ ok: true, address: { webhookUrl: "https://hooks.slack.com/services/T/B/c" } });
    expect(resolveAddress("sms", { userId: "u", phone: "555-0100" })).to.deep.include({ ok: false, reason: "invalid", field: "phone" });
  });
});

describe("opt-in precedence", () => {
  const optIn = { defaultOptIn: true };
  const optOut = { defaultOptIn: false };
  it("types[type][channel], then channels[channel], then defaultOptIn", () => {
    expect(isOptedIn(undefined, "t", "email", optIn)).to.equal(true);
    expect(isOptedIn(undefined, "t", "email", optOut)).to.equal(false);
    expect(isOptedIn({ userId: "u", channels: { email: false } }, "t", "email", optIn)).to.equal(false);
    // A channel-wide yes is no consent to a type that asks for it; a per-type yes is.
    expect(isOptedIn({ userId: "u", channels: { email: true } }, "t", "email", optOut)).to.equal(false);
    expect(isOptedIn({ userId: "u", channels: { email: true }, types: { t: { email: true } } }, "t", "email", optOut)).to.equal(true);
    expect(isOptedIn({ userId: "u", channels: { email: false }, types: { t: { email: true } } }, "t", "email", optIn)).to.equal(true);
    expect(isOptedIn({ userId: "u", channels: { email: true }, types: { t: { email: false } } }, "t", "email", optIn)).to.equal(false);
    // Non-boolean values and inherited names count as unset.
    expect(isOptedIn({ userId: "u", channels: { email: "no" as any } }, "t", "email", optIn)).to.equal(true);
    expect(isOptedIn({ userId: "u", types: {} }, "constructor", "email", optOut)).to.equal(false);
  });
});

describe("templates", () => {
  const template: Template = {
    subject: "Order {{orderId}}",
    text: "{{name}}: {{#items}}{{title}} {{/items}}{{^items}}none{{/items}}",
    html: "<b>{{name}}</b>",
  };

  it("renders text and subject unescaped, html escaped, and keeps the subject on one line", () => {
    const result = renderTemplate(template, {
      orderId: "A\r\nBcc: x@evil.com",
      name: "<script>alert(1)</script>",
      items: [{ title: "a&b" }],
    });
    expect(result).to.deep.equal({
      ok: true,
      content: {
        subject: "Order A Bcc: x@evil.com",
        text: "<script>alert(1)</script>: a&b ",
        html: "<b>&lt;script&gt;alert(1)&lt;&#x2F;script&gt;</b>",
      },
    });
  });

  it("lists every missing variable, following sections; inverted sections need nothing", () => {
    expect(renderTemplate(template, {})).to.deep.equal({ ok: false, missing: ["items", "name", "orderId"] });
    expect(renderTemplate(template, { orderId: 1, name: "n", items: [{ title: "t" }, {}] })).to.deep.equal({
      ok: false,
      missing: ["title"],
    });
    expect(renderTemplate(template, { orderId: 1, name: "n", items: [] })).to.deep.include({ ok: true });
    expect(renderTemplate({ text: "{{a.b.c}}" }, { a: { b: {} } })).to.deep.equal({ ok: false, missing: ["a.b.c"] });
    expect(renderTemplate({ text: "{{a.b.c}}" }, { a: { b: { c: 0 } } })).to.deep.equal({ ok: true, content: { text: "0" } });
  });

  it("never reaches prototypes: {{constructor}} is missing, not Object", () => {
    expect(renderTemplate({ text: "{{constructor}}{{toString}}" }, {})).to.deep.equal({ ok: false, missing: ["constructor", "toString"] });
    expect(renderTemplate({ text: "{{x.length}}" }, { x: "abc" })).to.deep.equal({ ok: false, missing: ["x.length"] });
  });

  it("does not render data as a template: mustache tags in values stay text", () => {
    expect(renderTemplate({ text: "{{v}}", html: "<p>{{v}}</p>" }, { v: "{{#lambda}}{{{html}}}{{/lambda}}" })).to.deep.equal({
      ok: true,
      content: { text: "{{#lambda}}{{{html}}}{{/lambda}}", html: "<p>{{#lambda}}{{{html}}}{{&#x2F;lambda}}</p>" },
    });
  });

  it("refuses templates with partials, unescaped html output, bad syntax or shape", () => {
    expect(parseTemplate('{"text":"{{> header}}"}', "x")).to.deep.include({ ok: false, reason: "invalid" });
    expect(parseTemplate('{"text":"ok","html":"{{{raw}}}"}', "x")).to.deep.include({
      ok: false,
      problem: "template x html: html must not use unescaped {{{ }}} or {{& }}",
    });
    expect(parseTemplate('{"text":"{{{raw}}}"}', "x")).to.deep.include({ ok: true });
    expect(parseTemplate('{"text":"{{#a}}"}', "x")).to.deep.include({ ok: false });
    expect(parseTemplate('{"subject":"s"}', "x")).to.deep.include({ ok: false });
    expect(parseTemplate('{"text":"t","body":"b"}', "x")).to.deep.include({ ok: false });
    expect(parseTemplate("not json", "x")).to.deep.include({ ok: false });
  });

  it("makes a subject from a message's first non-empty line, at most 78 characters", () => {
    expect(contentFromMessage("\nDeploy finished\nAll green.")).to.deep.equal({
      text: "\nDeploy finished\nAll green.",
      subject: "Deploy finished",
    });
    const long = contentFromMessage("y".repeat(100));
    expect([...long.subject!]).to.have.length(78);
    expect(long.subject!.endsWith("…")).to.equal(true);
  });
});
