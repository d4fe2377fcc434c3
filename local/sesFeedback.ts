/**
 * `POST /dev/ses/bounce` `{ email, type: "Permanent" | "Complaint" }`: plays what SES publishes when a
 * mail to `email` bounces for good or is marked as spam. The event is built from the newest mail the SES
 * stand-in holds for that address (its headers name the user, as SES's event records carry them) and
 * handed to the description's email-feedback function as SNS would hand it.
 */
import { isEmail } from "../runtime/validate";
import type { SnsEvent } from "../runtime/emailFeedback";

interface StoredEmail {
  messageId?: string;
  destination?: { to?: string[] };
  headers?: { name: string; value: string }[];
  at?: number;
}

export type SesFeedbackHandler = (event: SnsEvent) => Promise<{ recorded: number }>;

/** Answers the dev route: 200 with what was recorded, 400 naming a bad field, 404 when no mail went to the address. */
export function makeSesFeedbackRoute(handler: SesFeedbackHandler, sesEndpoint: string) {
  return async (rawBody: string): Promise<{ status: number; body: unknown }> => {
    let body: { email?: unknown; type?: unknown };
    try {
      body = JSON.parse(rawBody || "{}");
    } catch {
      return { status: 400, body: { error: "invalid request", problems: [{ field: "body", problem: "is not valid JSON" }] } };
    }
    const problems: { field: string; problem: string }[] = [];
    if (typeof body?.email !== "string" || !isEmail(body.email)) problems.push({ field: "email", problem: "must be an e-mail address" });
    if (body?.type !== "Permanent" && body?.type !== "Complaint")
      problems.push({ field: "type", problem: 'must be "Permanent" or "Complaint"' });
    if (problems.length) return { status: 400, body: { error: "invalid request", problems } };
    const email = body.email as string;
    const store = (await (await fetch(`${sesEndpoint}/store`)).json()) as { emails?: StoredEmail[] };
    const mails = (store.emails ?? []).filter((mail) => mail.destination?.to?.includes(email));
    const mail = mails[mails.length - 1];
    if (!mail) {
      return { status: 404, body: { error: "not found", problems: [{ field: "email", problem: "no mail was sent to this address" }] } };
    }
    const at = new Date().toISOString();
    const headers = mail.headers ?? [];
    const sesEvent =
      body.type === "Permanent"
        ? {
            eventType: "Bounce",
            bounce: { bounceType: "Permanent", bounceSubType: "General", bouncedRecipients: [{ emailAddress: email }], timestamp: at },
            mail: { messageId: mail.messageId, destination: [email], headers },
          }
        : {
            eventType: "Complaint",
            complaint: { complaintFeedbackType: "abuse", complainedRecipients: [{ emailAddress: email }], timestamp: at },
            mail: { messageId: mail.messageId, destination: [email], headers },
          };
    const result = await handler({ Records: [{ Sns: { Message: JSON.stringify(sesEvent) } }] });
    return { status: 200, body: { email, type: body.type, recorded: result.recorded > 0 } };
  };
}
