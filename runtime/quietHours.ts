/**
 * Quiet hours: a user's nightly window (`PUT /me/preferences` `quietHours: { start: "22:00", end:
 * "07:00" }` in their `timeZone`, IANA) during which deliveries of non-critical types on every channel
 * but the WebSocket wait until it ends. The service copies the window into each delivery it holds; the
 * worker answers whether now is inside it, in the user's zone, and until when.
 */

export interface QuietHours {
  /** `HH:MM`, 24-hour, in `timeZone`. */
  start: string;
  /** `HH:MM`; before `start` when the window crosses midnight. */
  end: string;
  /** IANA time zone, e.g. `Europe/Berlin`. */
  timeZone: string;
}

/** `HH:MM`, 00:00–23:59. */
export const TIME_OF_DAY = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Whether `zone` is an IANA time zone this runtime knows. */
export function isTimeZone(zone: unknown): zone is string {
  if (typeof zone !== "string" || zone.length === 0 || zone.length > 64) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * When the quiet hours around `nowMs` end (epoch ms), or undefined when `nowMs` is outside them (or the
 * window is empty: start = end). Counted in minutes of the local clock, so a DST change inside the
 * window moves its end by that hour.
 */
export function quietUntil(quiet: QuietHours, nowMs: number): number | undefined {
  const start = minutesOf(quiet.start);
  const end = minutesOf(quiet.end);
  if (start === end) return undefined;
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone: quiet.timeZone,
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date(nowMs));
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  // Milliseconds are the same in every zone.
  const local = part("hour") * 60 + part("minute") + (part("second") + (nowMs % 1000) / 1000) / 60;
  const inside = start < end ? local >= start && local < end : local >= start || local < end;
  if (!inside) return undefined;
  const minutesLeft = (end - local + 1440) % 1440;
  return nowMs + Math.round(minutesLeft * 60_000);
}
