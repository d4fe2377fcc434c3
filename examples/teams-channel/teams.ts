/**
 * A Microsoft Teams provider of our own: posts each delivery as a message card to the user's incoming
 * webhook (their `external_channels.teams.webhookUrl`). `create()` is serialized by value into the
 * channel's worker, so it captures only plain values and functions, and reads everything else from the
 * delivery.
 */
import type { ChannelDelivery, ChannelProvider, Provider, ProviderResult } from "tidings";

/** Teams answers 429 when throttled and 5xx when it cannot take the post now: those are worth a retry. */
function outcomeOf(status: number, body: string): ProviderResult {
  if (status >= 200 && status < 300) return { outcome: "sent" };
  const reason = `Teams answered ${status}: ${body.slice(0, 200)}`;
  return status === 429 || status >= 500 ? { outcome: "retryable", reason } : { outcome: "permanent", reason };
}

export function teamsSender(): Provider {
  return {
    name: "teams",
    async send(delivery: ChannelDelivery): Promise<ProviderResult> {
      const webhookUrl = delivery.address.webhookUrl;
      if (typeof webhookUrl !== "string") return { outcome: "permanent", reason: "no Teams webhook URL in the address" };
      const card = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        summary: delivery.content.subject ?? delivery.content.text,
        title: delivery.content.subject,
        text: delivery.content.text,
        potentialAction: delivery.link ? [{ "@type": "OpenUri", name: "Open", targets: [{ os: "default", uri: delivery.link }] }] : [],
      };
      try {
        const response = await fetch(webhookUrl, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(card),
          signal: AbortSignal.timeout(10_000),
        });
        return outcomeOf(response.status, await response.text());
      } catch (error) {
        return { outcome: "retryable", reason: `Teams could not be reached: ${(error as Error).message}` };
      }
    },
  };
}

/** The channel's provider: inline, so it needs no IAM statements of its own (it calls no AWS API). */
export const teamsProvider: ChannelProvider = { type: "inline", name: "teams", statements: () => [], create: teamsSender };
