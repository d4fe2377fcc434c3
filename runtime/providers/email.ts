/**
 * E-mail through SES v2 (SendEmail, Simple content). The rendered subject/text/html of the delivery
 * become the mail; an actionable notification gets its callback link appended when the template did
 * not already include it, and a non-critical one the one-click unsubscribe headers (RFC 8058).
 */
import { SendEmailCommand, type SESv2Client } from "@aws-sdk/client-sesv2";
import type { ChannelDelivery, Provider, ProviderResult } from "../contracts";
import { USER_HEADER } from "../emailFeedback";
import { classifyError } from "./errors";

export interface SesProviderDeps {
  ses: SESv2Client;
  /** Verified SES sender, e.g. "Tidings <notify@example.com>". */
  from: string;
  /** SES configuration set (event publishing, dedicated IPs). */
  configurationSet?: string;
}

/** Text body with the callback link, unless the rendered text already carries it. */
export function withCallbackLink(text: string, callback: string | undefined): string {
  return callback && !text.includes(callback) ? `${text}\n\n${callback}` : text;
}

export function makeSesProvider(deps: SesProviderDeps): Provider {
  if (!deps.from) throw new Error("makeSesProvider: `from` (the verified SES sender) is required");
  return {
    name: "ses",
    async send(delivery: ChannelDelivery): Promise<ProviderResult> {
      const to = delivery.address.email;
      if (!to) return { outcome: "permanent", reason: "no e-mail address for this user" };
      const { subject, text, html } = delivery.content;
      try {
        const result = await deps.ses.send(
          new SendEmailCommand({
            FromEmailAddress: deps.from,
            Destination: { ToAddresses: [to] },
            ConfigurationSetName: deps.configurationSet,
            Content: {
              Simple: {
                Subject: { Data: subject ?? delivery.type, Charset: "UTF-8" },
                Headers: [
                  // Whose mail it is, for a bounce or complaint SES reports later (runtime/emailFeedback.ts).
                  { Name: USER_HEADER, Value: encodeURIComponent(delivery.userId) },
                  // RFC 8058: mail clients show an unsubscribe button that POSTs to the URL, no login needed.
                  ...(delivery.unsubscribe
                    ? [
                        { Name: "List-Unsubscribe", Value: `<${delivery.unsubscribe}>` },
                        { Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click" },
                      ]
                    : []),
                ],
                Body: {
                  // The tracking link when there is one (a click is recorded, then redirected to the callback).
                  Text: { Data: withCallbackLink(text, delivery.link ?? delivery.callback), Charset: "UTF-8" },
                  ...(html ? { Html: { Data: html, Charset: "UTF-8" } } : {}),
                },
              },
            },
            EmailTags: [
              { Name: "type", Value: tagValue(delivery.type) },
              { Name: "channel", Value: tagValue(delivery.channel) },
            ],
          }),
        );
        return { outcome: "sent", providerMessageId: result.MessageId };
      } catch (error) {
        return classifyError(error, "SES SendEmail");
      }
    },
  };
}

/** SES tag values allow only ASCII letters, digits, `_`, `-` (and `.`, `@` in v2): map the rest to `_`. */
function tagValue(value: string): string {
  return value.replace(/[^A-Za-z0-9_.@-]/g, "_").slice(0, 256) || "_";
}
