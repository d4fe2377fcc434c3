/**
 * Tidings as a consumer installs it, without network: `npm pack` (which runs the build), the tarball
 * unpacked into the consumer's `node_modules/tidings` (a real folder, not a link), and the packages
 * `npm install` would put next to it linked from this repository's node_modules. Consumer code then
 * runs with --preserve-symlinks, so every package resolves its imports from the consumer's tree.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const REPO = path.join(__dirname, "..", "..");

/**
 * Packs the repository into `dir`; returns the tarball's file name. One pack at a time across the test
 * processes: packing rebuilds dist/, which another pack would be reading.
 */
export function packTidings(dir: string): string {
  const lock = path.join(REPO, "node_modules", ".tidings-pack.lock");
  for (;;) {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, "pid"), String(process.pid));
      break;
    } catch {
      const holder = Number(fs.existsSync(path.join(lock, "pid")) ? fs.readFileSync(path.join(lock, "pid"), "utf8") : 0);
      if (holder && !alive(holder)) fs.rmSync(lock, { recursive: true, force: true });
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    const packed = execFileSync("npm", ["pack", "--json", "--pack-destination", dir], {
      cwd: REPO,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    return JSON.parse(packed.slice(packed.indexOf("[")))[0].filename;
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Unpacks `tarball` as `project`'s node_modules/tidings, links the lockfile's production packages (what
 * installing it brings) and `extra` (the project's own dev tools), and `.bin/tidings` as npm would.
 */
export function installPacked(project: string, tarball: string, extra: string[] = []): void {
  const modules = path.join(project, "node_modules");
  fs.mkdirSync(path.join(modules, "tidings"), { recursive: true });
  execFileSync("tar", ["-xzf", tarball, "-C", path.join(modules, "tidings"), "--strip-components=1"]);
  const link = (name: string) => {
    // Optional packages of other platforms (esbuild's binaries) are in the lockfile but not installed.
    if (fs.existsSync(path.join(modules, name)) || !fs.existsSync(path.join(REPO, "node_modules", name))) return;
    fs.mkdirSync(path.dirname(path.join(modules, name)), { recursive: true });
    fs.symlinkSync(path.join(REPO, "node_modules", name), path.join(modules, name), "dir");
  };
  const lock = JSON.parse(fs.readFileSync(path.join(REPO, "package-lock.json"), "utf8"));
  const packages = Object.entries<{ dev?: boolean; link?: boolean }>(lock.packages);
  for (const [key, entry] of packages) {
    const hoisted = /^node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(key);
    if (hoisted && !entry.dev && !entry.link) link(hoisted[1]);
  }
  // A dev tool's own dependencies come with it, as npm would install them: every hoisted package it reaches.
  const wanted = new Set(extra);
  for (const name of extra) {
    for (const dependency of dependenciesOf(name, lock.packages)) wanted.add(dependency);
  }
  for (const name of wanted) link(name);
  // The commands of tidings and of the project's own tools, as npm links them (`npx tidings`, `tsc`).
  fs.mkdirSync(path.join(modules, ".bin"), { recursive: true });
  for (const name of ["tidings", ...extra]) {
    const manifest = JSON.parse(fs.readFileSync(path.join(modules, name, "package.json"), "utf8"));
    const bins: Record<string, string> = typeof manifest.bin === "string" ? { [name]: manifest.bin } : (manifest.bin ?? {});
    for (const [command, file] of Object.entries(bins)) {
      const target = path.join(modules, name, file);
      if (fs.existsSync(path.join(modules, ".bin", command))) continue;
      fs.symlinkSync(path.relative(path.join(modules, ".bin"), target), path.join(modules, ".bin", command));
      if (name === "tidings") fs.chmodSync(target, 0o755);
    }
  }
}

/** Every hoisted package `name` reaches through its dependencies (this repository's lockfile). */
function dependenciesOf(name: string, packages: Record<string, { dependencies?: Record<string, string> }>): string[] {
  const seen = new Set<string>();
  const visit = (dependency: string) => {
    if (seen.has(dependency) || !packages[`node_modules/${dependency}`]) return;
    seen.add(dependency);
    for (const next of Object.keys(packages[`node_modules/${dependency}`].dependencies ?? {})) visit(next);
  };
  visit(name);
  return [...seen];
}
