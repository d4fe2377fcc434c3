/**
 * SES bounces and complaints. The email channel sends through a configuration set whose event
 * destination publishes `Bounce` and `Complaint` events to an SNS topic; this handler, subscribed to it,
 * records a permanent bounce or a complaint on the user's contact (`emailSuppressed`), so later e-mails
 * to that address end `skipped: suppressed`. A new address (PUT /users/{id}/contact) is not suppressed:
 * the record names the address it is about. Transient bounces are SES's to retry, and change nothing.
 *
 * SES event records carry the mail's headers: the user is the `X-Tidings-User` header the SES provider
 * sets, so no index of contacts by address is needed.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { recordHold } from "./addressHolds";
import { type DecisionLogger, logDecision, OUTCOME, type OutcomeOf } from "./log";

/** The header naming the user of a mail (URI-encoded userId), set by the SES provider. */
export const USER_HEADER = "X-Tidings-User";

/** An SNS-triggered Lambda's event, with only what the handler reads. */
export interface SnsEvent {
  Records: { Sns: { Message: string; MessageId?: string } }[];
}

/** An SES event-publishing record (Bounce and Complaint), with only what the handler reads. */
interface SesEvent {
  eventType?: string;
  bounce?: { bounceType?: string; bounceSubType?: string; bouncedRecipients?: { emailAddress?: string }[]; timestamp?: string };
  complaint?: { complaintFeedbackType?: string; complainedRecipients?: { emailAddress?: string }[]; timestamp?: string };
  mail?: { headers?: { name?: string; value?: string }[]; timestamp?: string };
}

export interface EmailFeedbackDeps {
  ddb: DynamoDBDocumentClient;
  contactsTable: string;
  logger?: DecisionLogger;
  now?: () => number;
}

export function makeEmailFeedbackHandler(deps: EmailFeedbackDeps) {
  const logger = deps.logger ?? logDecision;
  const contacts = { ddb: deps.ddb, table: deps.contactsTable };
  const now = deps.now ?? Date.now;
  const decide = (outcome: OutcomeOf<"email-feedback">, fields: Record<string, unknown>) =>
    logger({ component: "email-feedback", outcome, ...fields });

  /** Records one event; answers what it did. A record it cannot read is logged and skipped: SNS would only send it again. */
  async function record(message: string): Promise<"recorded" | "ignored" | "address changed"> {
    let event: SesEvent;
    try {
      event = JSON.parse(message);
    } catch {
      decide(OUTCOME["email-feedback"].invalid, { reason: "the SNS message is not JSON" });
      return "ignored";
    }
    const permanent = event.eventType === "Bounce" && event.bounce?.bounceType === "Permanent";
    const complaint = event.eventType === "Complaint";
    if (!permanent && !complaint) {
      decide(OUTCOME["email-feedback"].ignored, {
        reason: `${event.eventType ?? "unknown event"} ${event.bounce?.bounceType ?? ""}`.trim(),
      });
      return "ignored";
    }
    const header = event.mail?.headers?.find((h) => h.name?.toLowerCase() === USER_HEADER.toLowerCase())?.value;
    let userId: string | undefined;
    try {
      userId = header ? decodeURIComponent(header) : undefined;
    } catch {
      userId = undefined;
    }
    if (!userId) {
      decide(OUTCOME["email-feedback"].invalid, { reason: `no ${USER_HEADER} header in the mail` });
      return "ignored";
    }
    const reason = permanent
      ? `bounce: ${event.bounce?.bounceSubType ?? "General"}`
      : `complaint: ${event.complaint?.complaintFeedbackType ?? "abuse"}`;
    const recipients = (permanent ? event.bounce?.bouncedRecipients : event.complaint?.complainedRecipients) ?? [];
    const at = (permanent ? event.bounce?.timestamp : event.complaint?.timestamp) ?? new Date(now()).toISOString();
    let outcome: "recorded" | "address changed" = "address changed";
    for (const { emailAddress } of recipients) {
      if (!emailAddress) continue;
      // Only while the contact still has that address: a new one starts clean.
      const written = await recordHold(contacts, userId, "emailSuppressed", { address: emailAddress, reason, at });
      if (written === "recorded") {
        outcome = "recorded";
        decide(OUTCOME["email-feedback"].suppressed, { userId, reason });
      } else decide(OUTCOME["email-feedback"].ignored, { userId, reason: `${reason}, but the contact's address has changed since` });
    }
    return outcome;
  }

  return async (event: SnsEvent): Promise<{ recorded: number }> => {
    let recorded = 0;
    for (const { Sns } of event.Records ?? []) if ((await record(Sns.Message)) === "recorded") recorded++;
    return { recorded };
  };
}
