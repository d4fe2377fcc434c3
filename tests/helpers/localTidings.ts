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

/** What a test of the local mode's HTTP routes calls with: a producer's and a contacts admin's tokens, and `call`. */
export interface LocalCaller {
  producer: string;
  /** Holds the contacts scopes (`PUT` and `GET /users/{id}/contact`). */
  admin: string;
  /** A JSON request to the API port, as `token` (the producer's by default); answers status and parsed body. */
  call(path: string, body?: unknown, token?: string, method?: string): Promise<{ status: number; body: any }>;
  /** An order.shipped to `userId` on `channels`, as the producer: answered 202, its `{ eventId, channels }`. */
  ship(userId: string, channels: string[]): Promise<{ eventId: string; channels: Record<string, string> }>;
}

export async function localCaller(tidings: LocalTidings): Promise<LocalCaller> {
  const { scopes } = tidings.config.auth;
  const producer = await tidings.signToken("svc-orders", { scope: producerScopes(tidings) });
  const admin = await tidings.signToken("svc-accounts", { scope: `${scopes.contactsWrite} ${scopes.contactsRead}` });
  const call: LocalCaller["call"] = async (path, body, token = producer, method = "POST") => {
    const response = await fetch(`${tidings.endpoints.api}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: await response.json() };
  };
  return {
    producer,
    admin,
    call,
    async ship(userId, channels) {
      const data = { orderId: "O-1", carrier: "DHL", trackingUrl: "https://track.example.com/O-1" };
      const sent = await call("/notifications", { userId, type: "order.shipped", channels, data });
      expect(sent.status, JSON.stringify(sent.body)).to.equal(202);
      return sent.body;
    },
  };
}
