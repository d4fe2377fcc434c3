/**
 * What a contact records against one of its addresses: a permanent bounce or a complaint SES reported on
 * its e-mail (`emailSuppressed`, runtime/emailFeedback.ts), its number opted out at the carrier (SMS STOP,
 * `phoneOptedOut`, the SMS worker). A record names its address: it holds only while the contact still has
 * that address, and is written only then, so a new address (PUT /users/{id}/contact) starts clean.
 */
import { type DynamoDBDocumentClient, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { ChannelDelivery } from "./contracts";
import { isConditionFailure } from "./logWrites";

/** Each hold, and the contact field holding the address it is about. */
export const ADDRESS_HOLDS = { emailSuppressed: "email", phoneOptedOut: "phone" } as const;
export type AddressHold = keyof typeof ADDRESS_HOLDS;

export interface HoldRecord {
  /** The address it is about. */
  address: string;
  /** When it was reported (ISO-8601). */
  at: string;
  /** Why: `bounce: <subtype>`, `complaint: <feedback type>`. */
  reason?: string;
}

/** The contact's hold on its current address, if it has one. */
export function holdOf(contact: object | undefined, hold: AddressHold): HoldRecord | undefined {
  const fields = contact as Record<string, unknown> | undefined;
  const record = fields?.[hold] as HoldRecord | undefined;
  return record && typeof record === "object" && record.address === fields?.[ADDRESS_HOLDS[hold]] ? record : undefined;
}

/** Writes `record` on the user's contact while its address is still `record.address`; "address changed" otherwise. */
export async function recordHold(
  deps: { ddb: DynamoDBDocumentClient; table: string },
  userId: string,
  hold: AddressHold,
  record: HoldRecord,
): Promise<"recorded" | "address changed"> {
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.table,
        Key: { userId },
        UpdateExpression: "SET #hold = :record",
        ConditionExpression: "#address = :address",
        ExpressionAttributeNames: { "#hold": hold, "#address": ADDRESS_HOLDS[hold] },
        ExpressionAttributeValues: { ":record": record, ":address": record.address },
      }),
    );
    return "recorded";
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    return "address changed";
  }
}

/** The SMS worker's record of a number opted out at the carrier (a provider's `optedOut`). */
export function makeOptOutRecorder(deps: { ddb: DynamoDBDocumentClient; table: string; now?: () => number }) {
  const now = deps.now ?? Date.now;
  return async (delivery: ChannelDelivery): Promise<void> => {
    const phone = delivery.address.phone;
    if (phone) await recordHold(deps, delivery.userId, "phoneOptedOut", { address: phone, at: new Date(now()).toISOString() });
  };
}
