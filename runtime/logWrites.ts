/**
 * How the notification log writes: conditional updates on a channel's record of the notification item
 * (or on a row of the earlier layout), and what they answer.
 */
import type { UpdateCommandInput } from "@aws-sdk/lib-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { DELIVERY_STATUS, type DeliveryStatus } from "./contracts";
import { type Item, NOTIFICATION_ITEM } from "./logItem";

/**
 * Where a write lands: the channel's record in the notification item, or (for data written before the
 * one-item layout) the channel's own row. `at(field)` names a field of the record in an expression.
 */
export interface Target {
  key: { eventId: string; channel: string };
  channel: string;
  /** True for the notification item. */
  nested: boolean;
  /** Condition: the channel has an entry. */
  exists: string;
  names: Record<string, string>;
  at(field: string): string;
}

export function targetOf(eventId: string, channel: string, nested: boolean): Target {
  const names: Record<string, string> = nested ? { "#deliveries": "deliveries", "#ch": channel } : { "#eventId": "eventId" };
  const prefix = nested ? "#deliveries.#ch." : "";
  return {
    key: { eventId, channel: nested ? NOTIFICATION_ITEM : channel },
    channel,
    nested,
    exists: nested ? "attribute_exists(#deliveries.#ch)" : "attribute_exists(#eventId)",
    names,
    at(field) {
      names[`#${field}`] = field;
      return `${prefix}#${field}`;
    },
  };
}

/** An update built for one target; `set`/`remove`/`add`/`del` are joined into its UpdateExpression. */
export interface Update {
  set: string[];
  remove?: string[];
  add?: string[];
  del?: string[];
  condition: string;
  values: Record<string, unknown>;
  returnValues?: UpdateCommandInput["ReturnValues"];
}

export function expressionOf(update: Update): string {
  const clauses: string[] = [];
  if (update.set.length) clauses.push(`SET ${update.set.join(", ")}`);
  if (update.remove?.length) clauses.push(`REMOVE ${update.remove.join(", ")}`);
  if (update.add?.length) clauses.push(`ADD ${update.add.join(", ")}`);
  if (update.del?.length) clauses.push(`DELETE ${update.del.join(", ")}`);
  return clauses.join(" ");
}

/** What a conditional update answered: the item it returned (ReturnValues) or found (ALL_OLD on failure, where the store returns it). */
export type Written = { ok: true; item: Item | undefined; target: Target } | { ok: false; item: Item | undefined; target: Target };

/**
 * The item a conditional write found, when it failed: DynamoDB returns it with
 * `ReturnValuesOnConditionCheckFailure: "ALL_OLD"`. Local stand-ins that predate that option (dynalite)
 * return none; callers that need it then read it.
 */
export function oldItemOf(error: unknown): Item | undefined {
  const item = (error as { Item?: Parameters<typeof unmarshall>[0] }).Item;
  return item && typeof item === "object" ? (unmarshall(item) as Item) : undefined;
}

export const isConditionFailure = (error: unknown) => (error as { name?: string }).name === "ConditionalCheckFailedException";

/** Final outcomes other than delivery: only the claimant of a new send moves an entry off them. */
export const OUTCOMES: readonly DeliveryStatus[] = [DELIVERY_STATUS.error, DELIVERY_STATUS.unsubscribed, DELIVERY_STATUS.skipped];

/** `:<prefix>0, :<prefix>1, …` for an `IN (…)` condition, with the values to bind. */
export function inList<S extends string = DeliveryStatus>(
  prefix: string,
  statuses: readonly S[],
): { placeholders: string; values: Record<string, S> } {
  const values: Record<string, S> = {};
  statuses.forEach((status, i) => {
    values[`:${prefix}${i}`] = status;
  });
  return { placeholders: Object.keys(values).join(", "), values };
}
