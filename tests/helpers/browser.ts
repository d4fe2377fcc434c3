/**
 * Headless Chromium for the browser tests. A browser that cannot start fails the test: a skipped
 * browser test is not a pass. Found at TIDINGS_CHROMIUM, Debian's /usr/bin/chromium (`.ci/run` installs
 * it), or Playwright's own download (`npx playwright install chromium`).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { BrowserContext } from "playwright-core";

const DEBIAN_CHROMIUM = "/usr/bin/chromium";

async function chromiumPath(): Promise<string> {
  const { chromium } = await import("playwright-core");
  const candidates = [process.env.TIDINGS_CHROMIUM, DEBIAN_CHROMIUM, chromium.executablePath()].filter((p): p is string => !!p);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) {
    throw new Error(
      `no Chromium at ${candidates.join(", ")}: install one (apt-get install -y chromium, or npx playwright install chromium) or set TIDINGS_CHROMIUM`,
    );
  }
  return found;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A fresh profile in a temporary directory, removed on close. */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = await chromiumPath();
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tidings-chromium-"));
  const { chromium } = await import("playwright-core");
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
