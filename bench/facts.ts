/** The machine and code a run measured, so a reader can tell whether two results.md are comparable. */
import { execFileSync } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";

export interface MachineFacts {
  cpuModel: string;
  cores: number;
  memory: string;
  node: string;
  platform: string;
  date: string;
  commit: string;
  /** 1-minute load average at the start: other work on the machine skews absolute numbers (ratios less so). */
  loadAverage: string;
}

export function machineFacts(): MachineFacts {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() || "unknown",
    cores: cpus.length,
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
    commit: gitCommit(),
    loadAverage: loadAverage(),
  };
}

/** 1-, 5- and 15-minute load averages, e.g. "0.42 0.30 0.25". */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
}

function gitCommit(): string {
  const run = (args: string[]) =>
    execFileSync("git", args, { cwd: path.resolve(__dirname, ".."), encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  try {
    const commit = run(["rev-parse", "--short=12", "HEAD"]);
    // Others work in this checkout: say when the measured code differs from the commit.
    const dirty = run(["status", "--porcelain", "--", "runtime", "components", "local", "stack.ts"]);
    return dirty ? `${commit} (with uncommitted changes)` : commit;
  } catch {
    return "unknown (not a git checkout)";
  }
}
