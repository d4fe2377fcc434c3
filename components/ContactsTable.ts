import type * as pulumi from "@pulumi/pulumi";
import { TABLES } from "../runtime/tables";
import { EncryptedTable, type EncryptedTableArgs } from "./EncryptedTable";

/**
 * DynamoDB table `contacts` (layout in runtime/tables.ts), encrypted, with point-in-time recovery.
 *
 * @example
 * const table = new ContactsTable("contacts", { kmsKeyArn: key.arn });
 */
export class ContactsTable extends EncryptedTable {
  constructor(name: string, args: EncryptedTableArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tidings:aws:ContactsTable", name, TABLES.contacts, args, opts);
  }
}
