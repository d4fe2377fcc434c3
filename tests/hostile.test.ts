/**
 * Every request of the hostile corpus (tests/hostile/requests.json) through the shipped producer API:
 * each is answered 4xx with a JSON error whose problems name the field, nothing reaches the bus, no
 * log row is written, the process keeps running and Object.prototype stays clean.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "chai";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { type ShippedService, startShippedService } from "./hostile/shippedService";
import type { HttpResult } from "../runtime/contracts";

interface HostileCase {
  category: string;
  name: string;
  body?: unknown;
  /** Raw text; null: no body at all. */
  bodyText?: string | null;
  /** Raw bytes, base64, as API Gateway passes binary bodies. */
  base64?: string;
  generate?: {
    kind: "padding" | "message" | "data" | "nested-arrays" | "nested-data" | "channels";
    bytes?: number;
    depth?: number;
    count?: number;
    char?: string;
  };
  /** Stored as the contacts row of "$user" before the request; null: no row. */
  contact?: Record<string, unknown> | null;
  status: number;
  field: string;
}

const corpus: { cases: HostileCase[] } = JSON.parse(fs.readFileSync(path.join(__dirname, "hostile", "requests.json"), "utf8"));

/** Bodies too large to keep in the repository, built to the size the case names. */
function generated(spec: NonNullable<HostileCase["generate"]>): string {
  const base = { userId: "hostile-user", type: "order.shipped" };
  switch (spec.kind) {
    case "padding":
      return JSON.stringify(base) + " ".repeat(spec.bytes! - Buffer.byteLength(JSON.stringify(base)));
    case "message": {
      const char = spec.char ?? "x";
      return JSON.stringify({ ...base, message: char.repeat(Math.ceil(spec.bytes! / Buffer.byteLength(char))) });
    }
    case "data":
      return JSON.stringify({
        ...base,
        data: Object.fromEntries(Array.from({ length: Math.ceil(spec.bytes! / 4000) }, (_, i) => [`k${i}`, "x".repeat(4000)])),
      });
    case "nested-arrays":
      return "[".repeat(spec.depth!) + "]".repeat(spec.depth!);
    case "nested-data":
      return `{"userId":"hostile-user","type":"order.shipped","data":{"a":${"[".repeat(spec.depth!)}${"]".repeat(spec.depth!)}}}`;
    case "channels":
      return JSON.stringify({ ...base, channels: Array(spec.count!).fill("email") });
  }
}

describe("hostile producer requests (shipped code, local servers)", function () {
  this.timeout(120_000);
  let service: ShippedService;
  const consoleLog = console.log;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  before(async () => {
    console.log = () => {};
    process.on("unhandledRejection", onUnhandled);
    service = await startShippedService({ enable: ["push"] });
  });
  after(async () => {
    console.log = consoleLog;
    process.off("unhandledRejection", onUnhandled);
    await service?.stop();
  });

  it("holds at least 200 cases covering every category the brief lists", () => {
    expect(corpus.cases.length).to.be.at.least(200);
    const categories = new Set(corpus.cases.map((c) => c.category));
    for (const category of [
      "malformed",
      "wrong type",
      "missing",
      "size",
      "contact",
      "unknown",
      "template injection",
      "unicode",
      "prototype pollution",
      "security",
    ]) {
      expect(categories, category).to.include(category);
    }
    expect(new Set(corpus.cases.map((c) => c.name)).size, "names are unique").to.equal(corpus.cases.length);
  });

  it("answers every case 4xx with a JSON error naming the field, and puts nothing on the bus", async () => {
    const failures: string[] = [];
    const busBefore = service.events.length;
    let index = 0;
    for (const testCase of corpus.cases) {
      const userId = `hostile-${index++}`;
      if (testCase.contact !== undefined && testCase.contact !== null) await service.putContact({ ...testCase.contact, userId });
      let bodyText: string | undefined;
      let isBase64Encoded = false;
      if (testCase.generate) bodyText = generated(testCase.generate);
      else if (testCase.base64 !== undefined) [bodyText, isBase64Encoded] = [testCase.base64, true];
      else if (testCase.bodyText !== undefined) bodyText = testCase.bodyText ?? undefined;
      else bodyText = JSON.stringify(testCase.body).replaceAll('"$user"', JSON.stringify(userId));

      const before = service.events.length;
      let result: HttpResult;
      try {
        result = await service.handler({
          body: bodyText,
          isBase64Encoded,
          requestContext: { http: { method: "POST", path: "/notifications" } },
        });
        await service.bus.idle();
      } catch (error) {
        failures.push(`${testCase.name}: threw ${(error as Error).message}`);
        continue;
      }
      const label = `${testCase.category} / ${testCase.name}`;
      if (result.statusCode !== testCase.status) {
        failures.push(`${label}: status ${result.statusCode}, expected ${testCase.status}: ${result.body?.slice(0, 300)}`);
        continue;
      }
      if (!/^application\/json/.test(result.headers?.["content-type"] ?? ""))
        failures.push(`${label}: content-type ${result.headers?.["content-type"]}`);
      let answer: any;
      try {
        answer = JSON.parse(result.body ?? "");
      } catch {
        failures.push(`${label}: body is not JSON`);
        continue;
      }
      const fields = (answer.problems ?? []).map((p: { field: string }) => p.field);
      if (typeof answer.error !== "string" || !fields.includes(testCase.field)) {
        failures.push(`${label}: problems name ${JSON.stringify(fields)}, not "${testCase.field}"`);
      }
      if (service.events.length !== before) failures.push(`${label}: put ${service.events.length - before} events`);
    }
    expect(failures, failures.join("\n")).to.deep.equal([]);
    expect(service.events.length).to.equal(busBefore);
    expect(unhandled).to.deep.equal([]);
  });

  it("left no notification-log row and no polluted prototype behind", async () => {
    const rows = await service.ddb.send(new ScanCommand({ TableName: service.names.log }));
    expect(rows.Items).to.deep.equal([]);
    for (const key of ["isAdmin", "polluted", "a", "b", "x"]) expect(({} as any)[key], key).to.equal(undefined);
    // And the service still works afterwards.
    await service.putContact({ userId: "after-the-storm", email: "ada@example.com" });
    const answer = await service.post({
      userId: "after-the-storm",
      type: "order.shipped",
      channels: ["email"],
      data: { orderId: "1", carrier: "UPS", trackingUrl: "https://t.example.com/1" },
    });
    expect(answer.status).to.equal(202);
  });
});
