/**
 * SMS STOP: the SMS worker records on the contact that a number opted out at the carrier, so the service
 * skips SMS to it (runtime/contacts.ts `resolveAddress`) until a new number is set. Kept apart from the
 * contacts module so the SMS worker's bundle carries only this write.
 */
import { type DynamoDBDocumentClient, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { ChannelDelivery } from "./contracts";

/**
 * Records on the contact that its number opted out at the carrier (SMS STOP), while the contact still
 * has that number: the service then skips SMS for it until a new number is set.
 */
export function makeOptOutRecorder(deps: { ddb: DynamoDBDocumentClient; table: string; now?: () => number }) {
  const now = deps.now ?? Date.now;
  return async (delivery: ChannelDelivery): Promise<void> => {
    const phone = delivery.address.phone;
    if (!phone) return;
    try {
      await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.table,
          Key: { userId: delivery.userId },
          UpdateExpression: "SET phoneOptedOut = :optedOut",
          ConditionExpression: "phone = :phone",
          ExpressionAttributeValues: { ":optedOut": { address: phone, at: new Date(now()).toISOString() }, ":phone": phone },
        }),
      );
    } catch (error) {
      // The number changed since the delivery was made: the new one starts clean.
      if ((error as { name?: string }).name !== "ConditionalCheckFailedException") throw error;
    }
  };
}
