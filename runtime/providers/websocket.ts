/**
 * The websocket channel's provider: posts the delivery as a frame to every open connection of the user.
 */
import type { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { ChannelDelivery, NotificationFrame, Provider, ProviderResult } from "../contracts";
import { makeUserDelivery } from "../deliver";
import type { Feed } from "../feed";
import type { DecisionLogger } from "../log";

export interface WebSocketProviderDeps {
  ddb: DynamoDBDocumentClient;
  mgmt: ApiGatewayManagementApiClient;
  connectionsTable: string;
  /** Posts in flight at once per delivery. @default 10 */
  concurrency?: number;
  logger?: DecisionLogger;
  /**
   * The in-app feed. With it, delivering means storing the notification for its user (runtime/feed.ts):
   * the result is `sent` whether or not the user has an open connection, and open connections also get
   * the frame. Without it, only a frame that reached a connection counts.
   */
  feed?: Feed;
}

/** The reason logged when a user has no open connection: the notification log keeps the notification. */
export const NO_OPEN_CONNECTION = "user has no open connection";

/** The frame a client receives for a delivery, or a reason it cannot be framed. */
export function frameFor(delivery: ChannelDelivery): { ok: true; frame: NotificationFrame } | { ok: false; reason: string } {
  const message = delivery.content?.text;
  if (typeof message !== "string") return { ok: false, reason: "delivery has no content.text" };
  if (delivery.kind === "actionable") {
    if (typeof delivery.callback !== "string") return { ok: false, reason: "actionable delivery without a callback" };
    const frame: NotificationFrame = { type: "notification", id: delivery.eventId, message, callback: delivery.callback };
    if (typeof delivery.link === "string") frame.link = delivery.link;
    return { ok: true, frame };
  }
  if (delivery.kind === "feedback" && delivery.group) {
    const { id, key, renotify } = delivery.group;
    const frame: NotificationFrame = { type: "update", id, groupKey: key, eventId: delivery.eventId, message };
    if (typeof delivery.progress === "number") frame.progress = delivery.progress;
    if (renotify) frame.renotify = true;
    return { ok: true, frame };
  }
  if (delivery.kind === "feedback") {
    const frame: NotificationFrame = { type: "feedback", id: delivery.eventId, message };
    if (typeof delivery.progress === "number") frame.progress = delivery.progress;
    return { ok: true, frame };
  }
  return { ok: false, reason: `unknown kind "${String((delivery as { kind?: unknown }).kind)}"` };
}

/**
 * With a feed: sent once the notification is stored (retryable when the feed cannot be written); the
 * frame to open connections is a courtesy whose failures the client makes good by reading the feed.
 * Without a feed: sent: at least one connection got the frame. permanent: nothing to send to (no open connection, or
 * an unframeable delivery). retryable: every post failed for a reason other than 410 Gone, or the
 * connections could not be read.
 */
export function makeWebSocketProvider(deps: WebSocketProviderDeps): Provider {
  const deliverToUser = makeUserDelivery(deps);
  return {
    name: "websocket",
    async send(delivery): Promise<ProviderResult> {
      const framed = frameFor(delivery);
      if (!framed.ok) return { outcome: "permanent", reason: framed.reason };
      if (deps.feed) {
        let stored: Awaited<ReturnType<Feed["store"]>>;
        try {
          stored = await deps.feed.store(delivery);
        } catch (error) {
          return { outcome: "retryable", reason: `cannot store in the feed: ${(error as Error)?.name ?? "error"}` };
        }
        // An update older than the one the item holds arrived late: the clients already show the newer.
        if (stored === "stale") return { outcome: "sent", providerMessageId: "feed-superseded" };
        try {
          const report = await deliverToUser(delivery.userId, framed.frame);
          return { outcome: "sent", providerMessageId: `feed+${report.delivered}` };
        } catch {
          return { outcome: "sent", providerMessageId: "feed" };
        }
      }
      let report: Awaited<ReturnType<typeof deliverToUser>>;
      try {
        report = await deliverToUser(delivery.userId, framed.frame);
      } catch (error) {
        return { outcome: "retryable", reason: `cannot read connections: ${(error as Error)?.name ?? "error"}` };
      }
      if (report.delivered > 0) return { outcome: "sent" };
      if (report.failed > 0) return { outcome: "retryable", reason: `every post failed: ${report.errors.slice(0, 3).join("; ")}` };
      return { outcome: "permanent", reason: NO_OPEN_CONNECTION };
    },
  };
}
