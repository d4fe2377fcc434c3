/**
 * SMS through SNS Publish to a phone number. SNS validates the number (E.164); a rejected number is a
 * permanent failure, throttling a retryable one. A Publish SNS refuses because the number's holder opted
 * out at the carrier (replied STOP: `OptedOut`) answers `optedOut`. No opt-out check comes first: it would
 * cost a call per message (bench: 16 calls per 4-channel notification).
 */
import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import type { ChannelDelivery, Provider, ProviderResult } from "../contracts";
import { withCallbackLink } from "./email";
import { classifyError } from "./errors";

export interface SnsSmsProviderDeps {
  sns: SNSClient;
  /** Transactional messages get the better route (and price); @default "Transactional" */
  smsType?: "Transactional" | "Promotional";
  /** Alphanumeric sender id, where the destination country supports one. */
  senderId?: string;
}

/** What the provider answers for a number opted out at the carrier. */
export const OPTED_OUT_AT_CARRIER = {
  outcome: "permanent",
  reason: "opted out at carrier",
  optedOut: true,
} as const satisfies ProviderResult;

export function makeSnsSmsProvider(deps: SnsSmsProviderDeps): Provider {
  const attributes: Record<string, { DataType: string; StringValue: string }> = {
    "AWS.SNS.SMS.SMSType": { DataType: "String", StringValue: deps.smsType ?? "Transactional" },
  };
  if (deps.senderId) attributes["AWS.SNS.SMS.SenderID"] = { DataType: "String", StringValue: deps.senderId };
  return {
    name: "sns-sms",
    async send(delivery: ChannelDelivery): Promise<ProviderResult> {
      const phone = delivery.address.phone;
      if (!phone) return { outcome: "permanent", reason: "no phone number for this user" };
      try {
        const result = await deps.sns.send(
          new PublishCommand({
            PhoneNumber: phone,
            // One link, the tracking one when there is one (a click is recorded, then redirected).
            Message: withCallbackLink(delivery.content.text, delivery.link ?? delivery.callback),
            MessageAttributes: attributes,
          }),
        );
        return { outcome: "sent", providerMessageId: result.MessageId };
      } catch (error) {
        const { name, Code } = (error ?? {}) as { name?: string; Code?: string };
        if (name === "OptedOutException" || Code === "OptedOut") return OPTED_OUT_AT_CARRIER;
        return classifyError(error, "SNS Publish (SMS)");
      }
    },
  };
}
