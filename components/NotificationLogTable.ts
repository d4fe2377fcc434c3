import type * as pulumi from "@pulumi/pulumi";
import { TABLES } from "../runtime/tables";
import { EncryptedTable, type EncryptedTableArgs } from "./EncryptedTable";

/**
 * DynamoDB table `notificationLog` (layout in runtime/tables.ts), encrypted, with point-in-time recovery.
 *
 * @example
 * const table = new NotificationLogTable("notificationLog", { kmsKeyArn: key.arn });
 */
export class NotificationLogTable extends EncryptedTable {
  constructor(name: string, args: EncryptedTableArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tidings:aws:NotificationLogTable", name, TABLES.notificationLog, args, opts);
  }
}
