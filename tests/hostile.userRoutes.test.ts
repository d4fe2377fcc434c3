/**
 * The hostile corpus of the user's-side routes (tests/hostile/userRoutes.json) against the local mode
 * over HTTP: every case answers its 4xx with a JSON error naming the field, nothing is written to the
 * settings, contacts or feed tables, the process keeps running and Object.prototype stays clean.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { expect } from "chai";
import type { LocalTidings } from "../local/tidings";
import { startQuiet, producerScopes } from "./helpers/localTidings";
import { signDevToken } from "../local/tokens";

interface UserRouteCase {
  category: string;
  name: string;
  method: string;
  path: string;
  query?: string;
  body?: unknown;
  bodyText?: string;
  generate?: { bytes: number };
  auth: "user" | "producer" | "none" | "forged" | "expired";
  status: number;
  field: string;
}

const corpus: { cases: UserRouteCase[] } = JSON.parse(fs.readFileSync(path.join(__dirname, "hostile", "userRoutes.json"), "utf8"));

describe("hostile requests to the user's-side routes (local mode)", function () {
  this.timeout(120_000);
  let tidings: LocalTidings;
  const tokens: Record<string, string> = {};

  before(async () => {
    tidings = await startQuiet({
      seed: false,
      editConfig: (raw) => {
        raw.notificationTypes["security.alert"].critical = true;
      },
    });
    tokens.producer = await tidings.signToken("producer", { scope: producerScopes(tidings) });
    const auth = tidings.config.auth;
    tokens.forged = await signDevToken({ secret: "x".repeat(48), userId: "hostile-user", ...auth });
    tokens.expired = await signDevToken({
      secret: "x".repeat(48),
      userId: "hostile-user",
      ...auth,
      expiresIn: Math.floor(Date.now() / 1000) - 60,
    });
  });
  after(async () => tidings?.stop());

  async function scanAll(table: string) {
    return (await tidings.clients.ddb.send(new ScanCommand({ TableName: table }))).Items ?? [];
  }

  it("holds cases for every new route and the categories of the producer corpus", () => {
    expect(corpus.cases.length).to.be.at.least(150);
    const routes = new Set(corpus.cases.map((c) => `${c.method} ${c.path.replace(/\/[a-f0-9]{64}$/, "/{token}").split("?")[0]}`));
    for (const route of [
      "GET /me/notifications",
      "GET /me/notifications/count",
      "POST /me/notifications/read",
      "POST /me/notifications/archive",
      "GET /me/preferences",
      "PUT /me/preferences",
      "POST /me/devices",
      "DELETE /me/devices/{token}",
      "PUT /users/$user/contact",
      "GET /users/$user/contact",
      "DELETE /users/$user",
    ]) {
      expect(routes, route).to.include(route);
    }
    for (const category of [
      "malformed",
      "wrong type",
      "missing",
      "size",
      "unknown",
      "unicode",
      "prototype pollution",
      "auth",
      "path",
      "query",
    ]) {
      expect(new Set(corpus.cases.map((c) => c.category)), category).to.include(category);
    }
    expect(new Set(corpus.cases.map((c) => c.name)).size, "names are unique").to.equal(corpus.cases.length);
  });

  it("answers every case with its status and a JSON error naming the field, and writes nothing", async () => {
    const failures: string[] = [];
    let index = 0;
    for (const testCase of corpus.cases) {
      const userId = `hostile-${index++}`;
      if (testCase.auth === "user") tokens[userId] = await tidings.signToken(userId);
      const token = testCase.auth === "user" ? tokens[userId] : tokens[testCase.auth];
      let body: string | undefined;
      if (testCase.generate) {
        const base = JSON.stringify({ pad: "" });
        body = JSON.stringify({ pad: " ".repeat(testCase.generate.bytes - base.length) });
      } else if (testCase.bodyText !== undefined) body = testCase.bodyText;
      else if (testCase.body !== undefined) body = JSON.stringify(testCase.body);
      const url = `${tidings.endpoints.api}${testCase.path.replaceAll("$user", userId)}${testCase.query ? `?${testCase.query}` : ""}`;
      const label = `${testCase.category} / ${testCase.name}`;
      let response: Response;
      try {
        response = await fetch(url, {
          method: testCase.method,
          headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body,
          redirect: "manual",
          signal: AbortSignal.timeout(10_000),
        });
      } catch (error) {
        failures.push(`${label}: ${(error as Error).message}`);
        continue;
      }
      const text = await response.text();
      if (response.status !== testCase.status) {
        failures.push(`${label}: status ${response.status}, expected ${testCase.status}: ${text.slice(0, 200)}`);
        continue;
      }
      if (response.headers.get("location")) failures.push(`${label}: redirected to ${response.headers.get("location")}`);
      let answer: any;
      try {
        answer = JSON.parse(text);
      } catch {
        failures.push(`${label}: body is not JSON`);
        continue;
      }
      if (typeof answer.error !== "string") failures.push(`${label}: no error in ${text.slice(0, 200)}`);
      // The producer API's 401 is the one POST /notifications answers (a message, no problems list).
      if (!(testCase.auth === "none" && testCase.path.startsWith("/users"))) {
        const fields = (answer.problems ?? []).map((p: { field: string }) => p.field);
        if (!fields.includes(testCase.field)) failures.push(`${label}: problems name ${JSON.stringify(fields)}, not "${testCase.field}"`);
      }
    }
    expect(failures, failures.join("\n")).to.deep.equal([]);
    expect(await scanAll(tidings.tables.settings)).to.deep.equal([]);
    expect(await scanAll(tidings.tables.contacts)).to.deep.equal([]);
    expect(await scanAll(tidings.tables.feed)).to.deep.equal([]);
    for (const key of ["isAdmin", "polluted"]) expect(({} as any)[key], key).to.equal(undefined);
  });
});
