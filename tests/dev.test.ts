/**
 * `tidings dev` (local/dev.ts) on a project of its own: its program, run under mocks from its folder with
 * its stack file, composes channels whose `lambda` providers run locally as `--lambda` says, a handler
 * module or a URL; a function nothing serves is reported.
 */
import * as fs from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import { startDev } from "../local/dev";
import type { LocalTidings } from "../local/tidings";
import { until } from "./helpers/sockets";

const REPO = path.join(__dirname, "..");
const ARN = (name: string) => `arn:aws:lambda:us-east-1:123456789012:function:${name}`;

const PROGRAM = `
import { NotificationChannel } from ${JSON.stringify(path.join(REPO, "components"))};
import { createTidingsStack, readStackConfig } from ${JSON.stringify(path.join(REPO, "stack"))};

const lambda = (channel: string, functionName: string) => (shared: any) =>
  new NotificationChannel(channel, { ...shared, channel, provider: { type: "lambda", functionArn: "${ARN("")}" + functionName }, needsTemplates: false });

createTidingsStack({
  ...readStackConfig(),
  addChannels: (shared) => [lambda("pager", "pager-sender")(shared), lambda("oncall", "oncall")(shared), lambda("fax", "fax-sender")(shared)],
});
`;

const HANDLER = `
export async function handler(event: { delivery: { userId: string; content: { text: string } } }) {
  (globalThis as any).paged.push(event.delivery.userId + ": " + event.delivery.content.text);
  return { outcome: "sent", providerMessageId: "page-1" };
}
`;

const STACK = `
config:
  tidings:userApi:
    allowOrigins: [https://app.example.com]
  tidings:tokenSigningSecret:
    secure: v1:bm90LWRlY3J5cHRlZC1oZXJl
  tidings:channels:
    websocket: {}
  tidings:notificationTypes:
    build.failed:
      channels: [pager, oncall, fax]
`;

describe("tidings dev: a project's own composition, its lambda providers served locally", function () {
  this.timeout(120_000);
  const paged: string[] = [];
  const forwarded: unknown[] = [];
  let project: string;
  let server: Server;
  let tidings: LocalTidings;
  let unserved: string[];

  before(async () => {
    (globalThis as { paged?: string[] }).paged = paged;
    project = fs.mkdtempSync(path.join(os.tmpdir(), "tidings-dev-"));
    fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: dev-test\nruntime: nodejs\nmain: program.ts\n");
    fs.writeFileSync(path.join(project, "Pulumi.dev.yaml"), STACK);
    fs.writeFileSync(path.join(project, "program.ts"), PROGRAM);
    fs.writeFileSync(path.join(project, "pager.ts"), HANDLER);
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        forwarded.push(JSON.parse(body));
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ outcome: "sent" }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/invoke`;
    ({ tidings, unserved } = await startDev({
      cwd: project,
      lambdas: { "pager-sender": "./pager.ts", [ARN("oncall")]: url },
      apiPort: 0,
      wsPort: 0,
      sesPort: 0,
      logger: () => {},
    }));
  });

  after(async () => {
    await tidings?.stop();
    server?.close();
    fs.rmSync(project, { recursive: true, force: true });
  });

  it("runs the composition's channels, and names the function nothing serves", () => {
    expect(tidings.channels.map((c) => c.name)).to.deep.equal(["websocket", "pager", "oncall", "fax"]);
    expect(unserved).to.deep.equal([ARN("fax-sender")]);
  });

  it("calls a handler module for a function named by its name, and POSTs to a URL for one named by its ARN", async () => {
    const token = await tidings.signToken("svc-builds", { scope: tidings.config.auth.scopes.send });
    const sent = await fetch(tidings.endpoints.notifications, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ userId: "bob", type: "build.failed", message: "Build 812 failed.", channels: ["pager", "oncall"] }),
    });
    expect(sent.status, await sent.clone().text()).to.equal(202);
    await until(() => paged.length > 0 && forwarded.length > 0, 30_000, "both functions were invoked");
    expect(paged).to.deep.equal(["bob: Build 812 failed."]);
    expect(forwarded).to.have.length(1);
    expect(forwarded[0]).to.nested.include({ version: 1, "delivery.channel": "oncall", "delivery.userId": "bob" });
  });

  it("refuses a --lambda that names no function of the composition, listing those it has", async () => {
    let error: Error | undefined;
    try {
      await startDev({ cwd: project, lambdas: { "no-such-function": "./pager.ts" }, apiPort: 0, wsPort: 0, sesPort: 0, logger: () => {} });
    } catch (caught) {
      error = caught as Error;
    }
    expect(error?.message).to.match(/--lambda no-such-function: no lambda provider of the composition is that function/);
    expect(error?.message).to.include(ARN("pager-sender"));
  });
});
