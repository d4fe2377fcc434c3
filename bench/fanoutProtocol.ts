/** Messages between the fan-out benchmark (fanout.ts) and its forked host process (fanoutHost.ts). */

export type HostCommand =
  | { cmd: "gateway"; connections: number; token: string; signingKeyHex: string; auth: { issuer: string; audience: string }; table: string }
  | { cmd: "plain"; connections: number }
  | { cmd: "expect"; runId: string }
  | { cmd: "broadcast"; frame: string }
  | { cmd: "check"; runId: string }
  | { cmd: "latency"; ms: number }
  | { cmd: "stop" };

export type HostMessage =
  | { event: "ready"; managementEndpoint?: string; openMs: number; connectionIds?: string[] }
  | { event: "expecting"; runId: string }
  | { event: "received"; runId: string; lastAt: number }
  | { event: "broadcasting"; startedAt: number }
  | { event: "latency"; ms: number }
  | { event: "checked"; runId: string; received: number; missing: number; duplicated: number; strays: number }
  | { event: "failed"; message: string };

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export const epochNow = () => performance.timeOrigin + performance.now();
