/**
 * examples/teams-channel as a platform team has it: a project of its own, with tidings installed from
 * the packed tarball (not from this repository's sources). Its own tests pass (its tsc with Pulumi's
 * template tsconfig, its graph test, its shipped-worker test against a stand-in Teams), and
 * `npx tidings dev` runs its composition: the README's curl puts a Teams card on /sinks/teams.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import { installPacked, packTidings } from "./helpers/packed";
import { freePort } from "./helpers/ports";
import { until } from "./helpers/sockets";

const EXAMPLE = path.join(__dirname, "..", "examples", "teams-channel");
const README = fs.readFileSync(path.join(EXAMPLE, "README.md"), "utf8");

/** The bodies of the README's `curl … -d '<json>'` lines under "Run it locally", in order. */
function runItLocallyBodies(): Record<string, unknown>[] {
  const start = README.indexOf("## Run it locally");
  const section = README.slice(start, README.indexOf("\n## ", start + 1));
  return [...section.matchAll(/-d '(\{[^']*\})'/g)].map((m) => JSON.parse(m[1]));
}

describe("the README's composition section", () => {
  it("shows examples/teams-channel's program as it is, so the example's tests keep it true", () => {
    const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Composing channels in your own stack"));
    const block = /```ts\n([\s\S]*?)^```$/m.exec(section)?.[1];
    expect(block).to.equal(fs.readFileSync(path.join(EXAMPLE, "index.ts"), "utf8"));
  });
});

describe("examples/teams-channel, installed from the packed tarball", function () {
  this.timeout(300_000);
  let tmp: string;
  let project: string;
  let dev: ChildProcess | undefined;

  before(() => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "teams-example-")));
    project = path.join(tmp, "teams-channel");
    fs.cpSync(EXAMPLE, project, { recursive: true, filter: (file) => !/[/\\](node_modules|\.shipped|bin)$/.test(file) });
    const manifest = JSON.parse(fs.readFileSync(path.join(project, "package.json"), "utf8"));
    expect(manifest.dependencies.tidings, "the example depends on the published package").to.match(/^\^\d/);
    installPacked(project, path.join(tmp, packTidings(tmp)), [
      ...Object.keys(manifest.dependencies),
      ...Object.keys(manifest.devDependencies),
    ]);
  });

  after(async () => {
    if (dev && dev.exitCode === null) {
      dev.kill("SIGTERM");
      await new Promise((resolve) => dev!.once("exit", resolve));
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("passes its own npm test: tsc under Pulumi's template tsconfig, the graph test, the shipped Teams worker against a stand-in", () => {
    const run = spawnSync("npm", ["test"], {
      cwd: project,
      encoding: "utf8",
      env: { ...process.env, NODE_OPTIONS: "--preserve-symlinks" },
    });
    const output = `${run.stdout}\n${run.stderr}`;
    expect(run.status, output).to.equal(0);
    expect(output).to.match(/^# pass [1-9]/m);
    expect(output).to.match(/^# fail 0$/m);
    expect(output).to.match(/^# skipped 0$/m);
    expect(output).to.include("a replay of the same delivery is not posted again");
  });

  it("runs with npx tidings dev: the README's curl puts a card on /sinks/teams, and a webhook off Teams is a 400 naming the field", async () => {
    const api = await freePort();
    const ws = await freePort([api]);
    const ses = await freePort([api, ws]);
    let output = "";
    dev = spawn(path.join(project, "node_modules", ".bin", "tidings"), ["dev"], {
      cwd: project,
      env: {
        ...process.env,
        NODE_OPTIONS: "--preserve-symlinks",
        TIDINGS_API_PORT: `${api}`,
        TIDINGS_WS_PORT: `${ws}`,
        TIDINGS_SES_PORT: `${ses}`,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    dev.stdout!.on("data", (chunk: Buffer) => (output += chunk));
    dev.stderr!.on("data", (chunk: Buffer) => (output += chunk));
    await until(() => output.includes("Tidings is running locally") || dev!.exitCode !== null, 120_000);
    expect(output).to.include("Tidings is running locally");
    expect(output).to.match(/Channels: websocket, teams/);
    const base = `http://127.0.0.1:${api}`;
    expect(output).to.include(`${base}/sinks/teams`);

    const [tokenRequest, notification, adminTokenRequest, contact] = runItLocallyBodies();
    const token = async (body: unknown) =>
      ((await (await fetch(`${base}/dev/token`, { method: "POST", body: JSON.stringify(body) })).json()) as { token: string }).token;
    const send = await fetch(`${base}/notifications`, {
      method: "POST",
      headers: { authorization: `Bearer ${await token(tokenRequest)}` },
      body: JSON.stringify(notification),
    });
    expect(send.status, await send.clone().text()).to.equal(202);

    type Sink = { messages: { to: string; text: string }[] };
    let sink: Sink = { messages: [] };
    await until(async () => {
      sink = (await (await fetch(`${base}/sinks/teams?format=json`)).json()) as Sink;
      return sink.messages.length > 0;
    }, 60_000);
    expect(sink.messages).to.have.length(1);
    expect(sink.messages[0].to).to.equal("teams/alice");
    expect(sink.messages[0].text).to.include("checkout 2.4.1 was deployed to production by dana.");
    const page = await (await fetch(`${base}/sinks/teams`)).text();
    expect(page).to.include("checkout 2.4.1 is live");

    const refused = await fetch(`${base}/users/bob/contact`, {
      method: "PUT",
      headers: { authorization: `Bearer ${await token(adminTokenRequest)}` },
      body: JSON.stringify(contact),
    });
    expect(refused.status).to.equal(400);
    expect(JSON.stringify(await refused.json())).to.include("external_channels.teams.webhookUrl");
  });
});
