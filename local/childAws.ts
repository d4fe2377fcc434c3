/**
 * startLocalAws() in a child process, so the AWS-compatible servers (dynalite, fauxqs, SES) get a CPU
 * core of their own while the system under test runs in this one. Same LocalAws interface; pass it to
 * startLocalTidings({ localAws }). The child binds 127.0.0.1 only and exits when stopped or when this
 * process goes away.
 */
import { fork } from "node:child_process";
import type { LocalAws, LocalAwsOptions } from "./aws";
import type { TableName } from "../runtime/tables";

type Reply = { id: number; ok: true; value?: unknown } | { id: number; ok: false; error: string };

/** The child's LocalAws, plus the CPU time its process has used (for the bench's CPU accounting). */
export interface ChildLocalAws extends LocalAws {
  cpuUsage(): Promise<NodeJS.CpuUsage>;
}

export async function startLocalAwsInChild(options: { sesPort?: number } = {}): Promise<ChildLocalAws> {
  const child = fork(__filename, ["--child"], {
    // TIDINGS_CPU_PROF_DIR: profile the child too (the bench's --cpu-prof evidence).
    execArgv: [
      "--require",
      "ts-node/register/transpile-only",
      ...(process.env.TIDINGS_CPU_PROF_DIR ? ["--cpu-prof", "--cpu-prof-dir", process.env.TIDINGS_CPU_PROF_DIR] : []),
    ],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let nextId = 0;
  const waiting = new Map<number, (reply: Reply) => void>();
  child.on("message", (reply: Reply) => waiting.get(reply.id)?.(reply));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const call = <T = unknown>(type: string, args?: unknown): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, (reply) => {
        waiting.delete(id);
        // The child answers each request type with that type's value (see the handler below).
        if (reply.ok) resolve(reply.value as T);
        else reject(new Error(`local AWS child: ${reply.error}`));
      });
      child.send({ id, type, args });
    });

  const started: { region: string; endpoints: LocalAws["endpoints"]; env: Record<string, string> } = await call<typeof started>(
    "start",
    options,
  );
  // fauxqs queue URLs name sqs.<region>.localhost: this process must resolve them to loopback too.
  const { interceptLocalhostDns } = await import("fauxqs");
  const restoreDns = interceptLocalhostDns();
  return {
    ...started,
    applyEnv: () => void Object.assign(process.env, started.env),
    createTables: (names: Partial<Record<TableName, string>>) => call("createTables", names),
    cpuUsage: () => call("cpuUsage"),
    async stop() {
      restoreDns();
      if (child.exitCode === null) {
        await call("stop").catch(() => undefined);
        child.disconnect();
      }
      await exited;
    },
  };
}

if (process.argv.includes("--child") && process.send) {
  let aws: LocalAws | undefined;
  process.on("disconnect", () => process.exit(0));
  process.on("message", async (message: { id: number; type: string; args?: unknown }) => {
    const reply = (r: { ok: true; value?: unknown } | { ok: false; error: string }) => process.send!({ id: message.id, ...r });
    try {
      if (message.type === "start") {
        const { startLocalAws } = require("./aws") as typeof import("./aws");
        aws = await startLocalAws(message.args as LocalAwsOptions | undefined);
        reply({ ok: true, value: { region: aws.region, endpoints: aws.endpoints, env: aws.env } });
      } else if (message.type === "createTables") {
        await aws!.createTables(message.args as Partial<Record<TableName, string>>);
        reply({ ok: true });
      } else if (message.type === "cpuUsage") {
        reply({ ok: true, value: process.cpuUsage() });
      } else if (message.type === "stop") {
        await aws?.stop();
        reply({ ok: true });
      } else {
        reply({ ok: false, error: `unknown request "${message.type}"` });
      }
    } catch (error) {
      reply({ ok: false, error: String((error as Error)?.stack ?? error) });
    }
  });
}
