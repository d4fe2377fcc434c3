/**
 * Faults on purpose, in the local mode only: `POST /dev/faults` makes a channel's provider fail (every
 * send, or a share of them) so a newcomer can watch retries, the failover to the fallback provider, a
 * DLQ filling, its alarm and a redrive; `DELETE /dev/faults` clears them, `GET /dev/faults` lists them.
 *
 *   { "channel": "email", "provider"?: "primary" | "fallback" | <provider name>, "mode": "retryable" | "permanent" | "timeout", "rate"?: 0..1 }
 */
import type { Provider, ProviderResult } from "../runtime/contracts";

export type FaultMode = "retryable" | "permanent" | "timeout";

export interface Fault {
  channel: string;
  /** Which of the channel's providers fails: its role or its name. @default both */
  provider?: string;
  mode: FaultMode;
  /** The share of sends that fail. @default 1 */
  rate: number;
}

const MODES: FaultMode[] = ["retryable", "permanent", "timeout"];
/** How long a send "hangs" in timeout mode before it gives up: long enough to be seen, short enough for a demo. */
const TIMEOUT_MS = 3000;

export interface FaultRegistry {
  /** Wraps a channel's provider so the faults set now apply to it. */
  wrap(channel: string, provider: Provider, role: "primary" | "fallback"): Provider;
  /** The answer to `/dev/faults` (any method), given the request's method and body. */
  handle(method: string, body: string | undefined): { status: number; body: unknown };
  list(): Fault[];
}

export function makeFaultRegistry(options: { channels: string[]; random?: () => number; timeoutMs?: number }): FaultRegistry {
  const faults = new Map<string, Fault>();
  const random = options.random ?? Math.random;
  const keyOf = (fault: Pick<Fault, "channel" | "provider">) => `${fault.channel}|${fault.provider ?? "*"}`;

  function parse(body: string | undefined): { ok: true; fault: Fault } | { ok: false; problems: { field: string; problem: string }[] } {
    let value: unknown;
    try {
      value = JSON.parse(body ?? "");
    } catch {
      return { ok: false, problems: [{ field: "body", problem: 'must be JSON: { "channel": "email", "mode": "permanent" }' }] };
    }
    const problems: { field: string; problem: string }[] = [];
    const v = (value ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(v))
      if (!["channel", "provider", "mode", "rate"].includes(key)) problems.push({ field: key, problem: "is not a field of a fault" });
    if (typeof v.channel !== "string" || !options.channels.includes(v.channel))
      problems.push({ field: "channel", problem: `must be one of the running channels: ${options.channels.join(", ")}` });
    if (v.provider !== undefined && (typeof v.provider !== "string" || !v.provider))
      problems.push({ field: "provider", problem: 'must be "primary", "fallback" or a provider\'s name' });
    if (!MODES.includes(v.mode as FaultMode)) problems.push({ field: "mode", problem: `must be one of ${MODES.join(", ")}` });
    const rate = v.rate ?? 1;
    if (typeof rate !== "number" || !(rate >= 0 && rate <= 1)) problems.push({ field: "rate", problem: "must be a number from 0 to 1" });
    if (problems.length) return { ok: false, problems };
    return {
      ok: true,
      fault: { channel: v.channel as string, provider: v.provider as string | undefined, mode: v.mode as FaultMode, rate: rate as number },
    };
  }

  function applies(channel: string, provider: Provider, role: string): Fault | undefined {
    for (const fault of faults.values()) {
      if (fault.channel !== channel) continue;
      if (fault.provider !== undefined && fault.provider !== role && fault.provider !== provider.name) continue;
      if (random() < fault.rate) return fault;
    }
    return undefined;
  }

  return {
    wrap(channel, provider, role) {
      return {
        name: provider.name,
        async send(delivery): Promise<ProviderResult> {
          const fault = applies(channel, provider, role);
          if (!fault) return provider.send(delivery);
          const reason = `injected ${fault.mode} fault (POST /dev/faults)`;
          if (fault.mode === "permanent") return { outcome: "permanent", reason };
          if (fault.mode === "timeout") await new Promise((resolve) => setTimeout(resolve, options.timeoutMs ?? TIMEOUT_MS));
          return { outcome: "retryable", reason };
        },
      };
    },
    handle(method, body) {
      if (method === "GET") return { status: 200, body: { faults: [...faults.values()] } };
      if (method === "DELETE") {
        faults.clear();
        return { status: 200, body: { faults: [] } };
      }
      if (method !== "POST")
        return { status: 405, body: { error: "method not allowed", problems: [{ field: "method", problem: "GET, POST or DELETE" }] } };
      const parsed = parse(body);
      if (!parsed.ok) return { status: 400, body: { error: "invalid request", problems: parsed.problems } };
      faults.set(keyOf(parsed.fault), parsed.fault);
      return { status: 200, body: { faults: [...faults.values()] } };
    },
    list: () => [...faults.values()],
  };
}
