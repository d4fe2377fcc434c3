/** The local mode as the end-to-end tests start it, and the dev tokens they sign in with. */
import { expect } from "chai";
import { type LocalTidings, type LocalTidingsOptions, startLocalTidings } from "../../local/tidings";

/** Starts the local mode quietly on free ports (decisions dropped, no state file, 1 s long polls). */
export function startQuiet(options: LocalTidingsOptions = {}): Promise<LocalTidings> {
  return startLocalTidings({ apiPort: 0, wsPort: 0, sesPort: 0, stateFile: false, logger: () => {}, pollWaitSeconds: 1, ...options });
}

/** A token from the local mode's `POST /dev/token`: an end user's, or with `scope` a producer's. */
export async function devToken(tidings: LocalTidings, userId: string, scope?: string): Promise<string> {
  const response = await fetch(tidings.endpoints.devToken, { method: "POST", body: JSON.stringify({ userId, scope }) });
  expect(response.status, "POST /dev/token").to.equal(200);
  return ((await response.json()) as { token: string }).token;
}

/** Every producer scope of the config, space-separated: a token a producer allowed everything holds. */
export function producerScopes(tidings: Pick<LocalTidings, "config">): string {
  return Object.values(tidings.config.auth.scopes).join(" ");
}
