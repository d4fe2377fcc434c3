/**
 * Slack incoming webhooks: POST {text, blocks} to the user's webhook URL. The URL is a secret (anyone
 * holding it can post to the channel): it never appears in a reason, a log line or an error.
 *
 * Slack answers 200 "ok"; 429 rate_limited and 5xx are worth retrying; 400 invalid_payload,
 * 403 action_prohibited, 404 no_service / channel_not_found and 410 channel_is_archived are not.
 */
import { slackLinkUrl } from "../content";
import type { ChannelDelivery, Provider, ProviderResult } from "../contracts";
import { classifyError, isRetryableStatus, safeReason } from "./errors";

export interface SlackProviderDeps {
  /** Injected for tests; @default globalThis.fetch */
  fetch?: typeof fetch;
  /** @default 5000 */
  timeoutMs?: number;
  /**
   * Hosts webhook URLs may point at. Webhook URLs come from user contacts, so this stops the worker
   * from being pointed at arbitrary (or internal) addresses. Plain http is accepted for loopback
   * hosts only (local sinks). @default ["hooks.slack.com"]
   */
  allowedHosts?: string[];
}

/** The message Slack receives: plain text for notifications, blocks with a button for the callback. */
export function slackMessage(delivery: ChannelDelivery): { text: string; blocks: unknown[] } {
  const text = delivery.content.text;
  // The tracking link when there is one: a click is recorded, then redirected to the callback.
  const target = delivery.link ?? delivery.callback;
  const blocks: unknown[] = [{ type: "section", text: { type: "mrkdwn", text } }];
  if (target) {
    blocks.push({
      type: "actions",
      elements: [{ type: "button", text: { type: "plain_text", text: "Open" }, url: target, action_id: "open" }],
    });
  }
  if (delivery.kind === "feedback" && delivery.progress !== undefined) {
    blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: `Progress: ${delivery.progress}%` }] });
  }
  // The callback is the producer's: inside link markup it is escaped so that it can only be the link's URL.
  return { text: target && !text.includes(slackLinkUrl(target)) ? `${text} <${slackLinkUrl(target)}|Open>` : text, blocks };
}

export function makeSlackProvider(deps: SlackProviderDeps = {}): Provider {
  const timeoutMs = deps.timeoutMs ?? 5000;
  const allowedHosts = deps.allowedHosts ?? ["hooks.slack.com"];

  function problemWithUrl(raw: string | undefined): string | undefined {
    if (!raw) return "no Slack webhook URL for this user";
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return "the Slack webhook URL is not a URL";
    }
    if (!allowedHosts.includes(url.hostname)) return `Slack webhook host ${url.hostname} is not allowed`;
    const loopback = url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]";
    if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) return "the Slack webhook URL must use https";
    return undefined;
  }

  return {
    name: "slack-webhook",
    async send(delivery: ChannelDelivery): Promise<ProviderResult> {
      const webhookUrl = delivery.address.webhookUrl;
      const problem = problemWithUrl(webhookUrl);
      if (problem) return { outcome: "permanent", reason: problem };
      const doFetch = deps.fetch ?? fetch;
      try {
        const response = await doFetch(webhookUrl!, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(slackMessage(delivery)),
          signal: AbortSignal.timeout(timeoutMs),
          redirect: "error",
        });
        const body = (await response.text()).slice(0, 200);
        if (response.ok) return { outcome: "sent" };
        const reason = safeReason(`Slack webhook answered HTTP ${response.status}: ${body || response.statusText}`);
        return isRetryableStatus(response.status) ? { outcome: "retryable", reason } : { outcome: "permanent", reason };
      } catch (error) {
        return classifyError(error, "Slack webhook POST");
      }
    },
  };
}
