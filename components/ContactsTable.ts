import { TABLES } from "../runtime/tables";
import type { TidingsComponentOptions } from "./common";
import { EncryptedTable, type EncryptedTableArgs, type EncryptedTableTransform } from "./EncryptedTable";

/**
 * DynamoDB table `contacts` (layout in runtime/tables.ts), encrypted, with point-in-time recovery.
 *
 * @example
 * const table = new ContactsTable("contacts", { kmsKeyArn: key.arn });
 */
export class ContactsTable extends EncryptedTable {
  constructor(name: string, args: EncryptedTableArgs, opts?: TidingsComponentOptions<EncryptedTableTransform>) {
    super("tidings:aws:ContactsTable", name, TABLES.contacts, args, opts);
  }
}
