/**
 * `npm start` as a user runs it (issue 4): a child process on free ports that prints its endpoints
 * within 15 s, serves the README's quick start (dev token → POST /notifications, a WebSocket client
 * as alice), and on SIGTERM (a process manager) or SIGINT (Ctrl-C) exits 0 within a few seconds,
 * says it stopped, and leaves none of its ports taken.
 */
import { expect } from "chai";
import { canListen, freePort } from "./helpers/ports";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { frames, openSocket, until } from "./helpers/sockets";

const REPO = path.resolve(__dirname, "..");
const STATE_FILE = path.join(REPO, ".tidings-local.json");
const START_BOUND_MS = 15000;
const STOP_BOUND_MS = 5000;
const READY_LINE = "Ctrl-C stops everything.";

/**
 * npm forwards SIGTERM/SIGINT only to the shell running the script; `sh -c` (dash) does not pass it on
 * to ts-node, so without `exec` the shell dies, npm exits by the signal, and the server keeps running
 * orphaned with every port taken. Measured here with npm 11 and dash.
 */
const START_SCRIPT: string = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).scripts.start;
const START_SCRIPT_EXECS = /^exec\s/.test(START_SCRIPT);

describe("npm start's script", () => {
  it("execs the server, so npm's signal reaches it (no orphan keeping the ports)", () => {
    expect(START_SCRIPT_EXECS, `package.json's start script: ${START_SCRIPT}`).to.equal(true);
  });
});

/** The bodies of the quick start's `curl … -d '<json>'` lines, in order. */
function quickStartBodies(): any[] {
  const readme = fs.readFileSync(path.join(REPO, "README.md"), "utf8");
  const start = readme.indexOf("## Quick start");
  expect(start, "README has a Quick start section").to.be.at.least(0);
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  return [...section.matchAll(/-d '(\{[^']*\})'/g)].map((m) => JSON.parse(m[1]));
}

interface Listener {
  address: string;
  port: number;
}

/** "0100007F" → 127.0.0.1; IPv6 shown as ::1, :: or its hex. */
function decodeProcAddress(hex: string): string {
  if (hex.length === 8) return [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(".");
  if (/^0{32}$/.test(hex)) return "::";
  if (hex === "00000000000000000000000001000000") return "::1";
  return `ipv6:${hex}`;
}

/** Ids of the live processes in a process group (Linux /proc). */
function groupPids(pgid: number): number[] {
  const pids: number[] = [];
  for (const pid of fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      // After "pid (comm) ": state ppid pgrp …; a zombie (Z) has exited already.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === pgid && state !== "Z") pids.push(Number(pid));
    } catch {
      // The process ended meanwhile.
    }
  }
  return pids;
}

/**
 * Every TCP socket in LISTEN state held by a process of the process group, read from /proc (Linux):
 * the ports the local mode prints are not all of them (the event bus's is not printed).
 */
function listenersOfGroup(pgid: number): Listener[] {
  const inodes = new Set<string>();
  for (const pid of groupPids(pgid)) {
    try {
      for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
        const socket = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (socket) inodes.add(socket[1]);
      }
    } catch {
      // The process ended meanwhile.
    }
  }
  const listeners: Listener[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!fs.existsSync(table)) continue;
    for (const line of fs.readFileSync(table, "utf8").split("\n").slice(1)) {
      const columns = line.trim().split(/\s+/);
      const LISTEN = "0A";
      if (columns.length < 10 || columns[3] !== LISTEN || !inodes.has(columns[9])) continue;
      const [address, port] = columns[1].split(":");
      listeners.push({ address: decodeProcAddress(address), port: parseInt(port, 16) });
    }
  }
  return listeners;
}

/** One `npm start` child in its own process group, with everything it printed. */
interface Run {
  child: ChildProcess;
  ports: { api: number; ws: number; ses: number };
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  startedInMs?: number;
}

function startNpm(ports: Run["ports"]): Run {
  let output = "";
  const child = spawn("npm", ["start"], {
    cwd: REPO,
    env: {
      ...process.env,
      TIDINGS_API_PORT: String(ports.api),
      TIDINGS_WS_PORT: String(ports.ws),
      TIDINGS_SES_PORT: String(ports.ses),
      NO_COLOR: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group: SIGINT to the group is what Ctrl-C in a terminal sends, and after() can
    // end the whole tree, orphans included.
    detached: true,
  });
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, ports, output: () => output, exited };
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Ends what is left of the run's process group: Ctrl-C first, then SIGKILL. */
async function endGroup(run: Run | undefined): Promise<void> {
  if (!run?.child.pid) return;
  const alive = () => groupPids(run.child.pid!).length > 0;
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-run.child.pid!, signal);
    } catch {
      // The group is gone.
    }
  };
  if (!alive()) return;
  signalGroup("SIGINT");
  await until(() => !alive(), STOP_BOUND_MS, "the npm start group to stop").catch(() => signalGroup("SIGKILL"));
}

/** The first capture of `pattern` in what npm start printed; an error showing the output if absent. */
function printed(output: string, pattern: RegExp, what: string): string {
  const match = pattern.exec(output);
  if (!match) throw new Error(`npm start did not print ${what}:\n${output}`);
  return match[1];
}

const stops: { signal: NodeJS.Signals; how: string; send: (run: Run) => void }[] = [
  { signal: "SIGTERM", how: "sent to npm, as a process manager does", send: (run) => run.child.kill("SIGTERM") },
  {
    signal: "SIGINT",
    how: "sent to the process group, as Ctrl-C in a terminal does",
    send: (run) => process.kill(-run.child.pid!, "SIGINT"),
  },
];

for (const stop of stops) {
  describe(`npm start as a process, stopped with ${stop.signal}`, function () {
    this.timeout(60000);
    let run: Run | undefined;
    let listeners: Listener[] = [];
    /** The process the first test started; a later test fails (never skips) when it is not running. */
    const running_ = (): Run => {
      if (!run) throw new Error("npm start was not started: see the first test of this block");
      if (hasExited(run.child)) throw new Error(`npm start is no longer running; it printed:\n${run.output()}`);
      return run;
    };

    after(async () => {
      await endGroup(run);
    });

    it(`prints its endpoints within ${START_BOUND_MS / 1000} s, on the ports given by TIDINGS_*_PORT, every listener on 127.0.0.1`, async () => {
      const api = await freePort();
      const ws = await freePort([api]);
      const ports = { api, ws, ses: await freePort([api, ws]) };
      const startedAt = Date.now();
      run = startNpm(ports);
      const current = run;
      await until(
        () => current.output().includes(READY_LINE) || hasExited(current.child),
        START_BOUND_MS,
        `the ready banner within ${START_BOUND_MS} ms`,
      ).catch((error) => {
        throw new Error(`${error.message}; it printed:\n${current.output()}`);
      });
      expect(hasExited(run.child), `npm start exited early:\n${run.output()}`).to.equal(false);
      run.startedInMs = Date.now() - startedAt;

      const out = run.output();
      expect(printed(out, /POST (\S+\/notifications)/, "the producer API")).to.equal(`http://127.0.0.1:${ports.api}/notifications`);
      expect(printed(out, /WebSocket\s+(ws:\/\/\S+?)\/\?token=/, "the WebSocket URL")).to.equal(`ws://127.0.0.1:${ports.ws}`);
      expect(printed(out, /SES inbox\s+(\S+)/, "the SES inbox")).to.equal(`http://127.0.0.1:${ports.ses}`);

      listeners = listenersOfGroup(run.child.pid!);
      const listenedPorts = listeners.map((l) => l.port);
      const slackSink = Number(new URL(printed(out, /Slack sink\s+(\S+)/, "the Slack sink")).port);
      const snsSink = Number(new URL(printed(out, /SNS sink\s+(\S+)/, "the SNS sink")).port);
      // api, ws, ses, dynalite, fauxqs, event bus, Slack sink, SNS sink.
      expect(listenedPorts).to.include.members([ports.api, ports.ws, ports.ses, slackSink, snsSink]);
      expect(listeners.length, JSON.stringify(listeners)).to.be.at.least(8);
      expect(
        listeners.filter((l) => l.address !== "127.0.0.1"),
        "listeners not on 127.0.0.1",
      ).to.deep.equal([]);
    });

    it("delivers the README quick start: dev token for alice, POST /notifications, frame on alice's socket, mail in SES, sent on every channel", async () => {
      const running = running_();
      const out = running.output();
      const [tokenRequest, notification] = quickStartBodies();
      expect(tokenRequest, "README dev token body").to.deep.equal({ userId: "svc-orders", scope: "notifications:send" });
      expect(notification, "README notification body").to.include({ userId: "alice", type: "order.shipped" });

      const devToken = async (body: object) => {
        const response = await fetch(printed(out, /dev token\s+POST (\S+)/, "the dev token endpoint"), {
          method: "POST",
          body: JSON.stringify(body),
        });
        expect(response.status).to.equal(200);
        return ((await response.json()) as { token: string }).token;
      };
      const token = await devToken(tokenRequest);
      const aliceToken = await devToken({ userId: "alice" });

      const ws = await openSocket(`ws://127.0.0.1:${running.ports.ws}/?token=${encodeURIComponent(aliceToken)}`);
      try {
        const inbox = frames(ws);
        const response = await fetch(`http://127.0.0.1:${running.ports.api}/notifications`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}` },
          body: JSON.stringify(notification),
        });
        const answer = (await response.json()) as { eventId: string; channels: Record<string, string> };
        expect(response.status, JSON.stringify(answer)).to.equal(202);
        expect(answer.channels).to.deep.equal({ websocket: "queued", email: "queued", sms: "queued", slack: "queued" });

        const { orderId, carrier } = notification.data;
        const frame = await inbox.nextJson(10000);
        expect(frame).to.deep.include({
          type: "notification",
          id: answer.eventId,
          message: `Order ${orderId} has shipped with ${carrier}.`,
          callback: notification.callback,
        });
        expect(frame.link, "the sealed tracking link").to.match(/\/t\/[A-Za-z0-9_-]+$/);
        for (const channel of ["websocket", "email", "sms", "slack"]) {
          const sentLine = new RegExp(`\\bsent\\s+${channel}\\s+alice\\s+${answer.eventId}\\b`);
          await until(() => sentLine.test(running.output()), 15000, `a "sent ${channel}" line for ${answer.eventId}`);
        }
        const store = (await (await fetch(`http://127.0.0.1:${running.ports.ses}/store`)).json()) as { emails: any[] };
        const mails = store.emails.filter((m) => m.destination.to.includes("alice@example.com"));
        expect(mails).to.have.length(1);
        expect(mails[0].subject).to.equal(`Your order ${orderId} is on its way`);
        expect(inbox.queued, "frames after the first").to.equal(0);
      } finally {
        ws.terminate();
      }
    });

    it(`${stop.signal} (${stop.how}): exits 0 within ${STOP_BOUND_MS / 1000} s, prints that it stopped, and frees every port it listened on`, async () => {
      const running = running_();
      expect(listeners.length, "listeners seen while running").to.be.at.least(8);
      expect(fs.existsSync(STATE_FILE), "state file while running").to.equal(true);
      const signalledAt = Date.now();
      stop.send(running);
      const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), STOP_BOUND_MS).unref());
      const exit = await Promise.race([running.exited, timeout]);
      expect(exit, `no exit within ${STOP_BOUND_MS} ms; it printed:\n${running.output()}`).to.not.equal("timeout");
      expect(exit, running.output()).to.deep.equal({ code: 0, signal: null });
      expect(Date.now() - signalledAt).to.be.below(STOP_BOUND_MS);

      const out = running.output();
      expect(out).to.include(`${stop.signal}: stopping Tidings…`);
      expect(out).to.match(/^stopped\.$/m);
      expect(groupPids(running.child.pid!), "processes left in npm start's group").to.deep.equal([]);
      for (const { port } of listeners) expect(await canListen(port), `port ${port} is free again`).to.equal(true);
      expect(fs.existsSync(STATE_FILE), "state file after stop").to.equal(false);
    });
  });
}
