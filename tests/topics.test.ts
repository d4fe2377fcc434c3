/**
 * Topic subscriptions (issue 21 §3, its first part), in the local mode over HTTP: `PUT` adds subscribers
 * and counts only the new ones, `GET` pages them by userId with a cursor, `DELETE` removes one (204, also
 * when not subscribed), every route needs the `topics:write` scope, bad names and lists are 400s naming the
 * field with nothing written, and erasing a user removes their subscriptions.
 */
import { expect } from "chai";
import type { LocalTidings } from "../local/tidings";
import { startQuiet } from "./helpers/localTidings";

describe("topic subscriptions (local mode, over HTTP)", function () {
  this.timeout(60_000);
  let tidings: LocalTidings;
  let token: string;
  let sendOnly: string;

  before(async () => {
    tidings = await startQuiet();
    const { scopes } = tidings.config.auth;
    token = await tidings.signToken("svc-news", { scope: `${scopes.topicsWrite} ${scopes.erase}` });
    sendOnly = await tidings.signToken("svc-orders", { scope: scopes.send });
  });
  after(async () => tidings?.stop());

  async function call(method: string, path: string, body?: unknown, as = token) {
    const response = await fetch(`${tidings.endpoints.api}${path}`, {
      method,
      headers: { authorization: `Bearer ${as}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  }
  async function everyone(topic: string): Promise<string[]> {
    const all: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await call("GET", `/topics/${topic}/subscribers${cursor ? `?cursor=${cursor}` : ""}`);
      expect(page.status).to.equal(200);
      all.push(...page.body.userIds);
      cursor = page.body.nextCursor;
    } while (cursor);
    return all;
  }

  it("adds subscribers counting only the new ones, pages them 100 at a time, and removes one", async () => {
    const users = Array.from({ length: 150 }, (_, i) => `reader-${String(i).padStart(3, "0")}`);
    expect(await call("PUT", "/topics/release.notes/subscribers", { userIds: users.slice(0, 120) })).to.deep.equal({
      status: 200,
      body: { topic: "release.notes", added: 120 },
    });
    expect((await call("PUT", "/topics/release.notes/subscribers", { userIds: users.slice(100) })).body.added).to.equal(30);
    const first = await call("GET", "/topics/release.notes/subscribers");
    expect(first.body.userIds).to.have.length(100);
    expect(first.body.nextCursor).to.be.a("string");
    expect(await everyone("release.notes")).to.deep.equal(users);

    expect((await call("DELETE", "/topics/release.notes/subscribers/reader-007")).status).to.equal(204);
    expect((await call("DELETE", "/topics/release.notes/subscribers/reader-007")).status).to.equal(204);
    expect(await everyone("release.notes")).to.not.include("reader-007");
    expect((await call("GET", "/topics/nobody-here/subscribers")).body).to.deep.equal({ topic: "nobody-here", userIds: [] });
  });

  it("refuses bad names, lists and cursors naming the field, and writes nothing", async () => {
    const cases: [string, string, unknown, string][] = [
      ["PUT", "/topics/no%20spaces/subscribers", { userIds: ["a"] }, "path.topic"],
      ["PUT", `/topics/${"t".repeat(129)}/subscribers`, { userIds: ["a"] }, "path.topic"],
      ["PUT", "/topics/ok/subscribers", { userIds: [] }, "userIds"],
      ["PUT", "/topics/ok/subscribers", { userIds: Array.from({ length: 1001 }, (_, i) => `u${i}`) }, "userIds"],
      ["PUT", "/topics/ok/subscribers", { userIds: ["fine", 7] }, "userIds[1]"],
      ["PUT", "/topics/ok/subscribers", { userIds: ["a"], extra: 1 }, "extra"],
      ["GET", "/topics/ok/subscribers?cursor=%%%", undefined, "query.cursor"],
    ];
    for (const [method, path, body, field] of cases) {
      const answer = await call(method, path, body);
      expect(answer.status, `${method} ${path}`).to.equal(400);
      expect(
        answer.body.problems.map((p: { field: string }) => p.field),
        `${method} ${path}`,
      ).to.include(field);
    }
    expect((await call("GET", "/topics/ok/subscribers")).body.userIds).to.deep.equal([]);
    expect((await call("POST", "/topics/ok/subscribers", { userIds: ["a"] })).status).to.be.oneOf([404, 405]);
  });

  it("needs the topics:write scope: a producer with only the send scope is refused, naming it", async () => {
    const refused = await call("PUT", "/topics/ok/subscribers", { userIds: ["a"] }, sendOnly);
    expect(refused.status).to.equal(403);
    expect(JSON.stringify(refused.body)).to.include("topics:write");
    expect((await call("GET", "/topics/ok/subscribers")).body.userIds).to.deep.equal([]);
  });

  it("erasing a user removes their subscriptions", async () => {
    await call("PUT", "/topics/a/subscribers", { userIds: ["gone-user", "stays"] });
    await call("PUT", "/topics/b/subscribers", { userIds: ["gone-user"] });
    expect((await call("DELETE", "/users/gone-user")).status).to.equal(200);
    expect(await everyone("a")).to.deep.equal(["stays"]);
    expect(await everyone("b")).to.deep.equal([]);
  });
});
