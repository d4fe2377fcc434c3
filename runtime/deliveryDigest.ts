/**
 * Digests that bind what moves through the bus to what the service decided.
 *
 * - `deliveryDigest`: SHA-256 of one channel's delivery (the event detail), recorded on the log row when
 *   the service creates it. A worker sends only a delivery whose digest matches its row: an event put on
 *   the bus or a message put on a queue by anyone else (another address, other content) has no row or a
 *   different digest, and is refused, logged and counted, never sent.
 * - `requestDigest`: SHA-256 of what a producer asked for (everything but `eventId`), recorded on the
 *   row too, so a reused `eventId` for another user or other content is told apart from a retry.
 *
 * Both hash a canonical JSON (keys sorted at every level), so key order on the way through EventBridge
 * and SQS does not matter.
 */
import { createHash } from "node:crypto";
import type { ChannelDelivery, NotificationRequest } from "./contracts";

/** JSON with object keys sorted at every level; undefined members left out as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? "null" : canonicalJson(item))).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value);
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("base64url");

export function deliveryDigest(delivery: ChannelDelivery): string {
  return sha256(canonicalJson(delivery));
}

/** What identifies a notification request apart from its eventId. */
export function requestDigest(request: NotificationRequest): string {
  const { eventId: _ignored, ...rest } = request;
  return sha256(canonicalJson(rest));
}

/** Why a delivery taken off a queue may not be sent, or undefined when its log row vouches for it. */
export function unconfirmedDelivery(row: { userId?: string; digest?: string } | undefined, delivery: ChannelDelivery): string | undefined {
  if (!row) return "no notification-log row: the service never accepted this delivery";
  if (!row.digest) return "the notification-log row has no digest to confirm the delivery";
  if (row.userId !== delivery.userId) return "the delivery's userId differs from its notification-log row";
  if (row.digest !== deliveryDigest(delivery)) return "the delivery differs from what the service recorded (digest mismatch)";
  return undefined;
}
