import type * as pulumi from "@pulumi/pulumi";
import { TABLES } from "../runtime/tables";
import type { TidingsComponentOptions } from "./common";
import { EncryptedTable, type EncryptedTableArgs, type EncryptedTableTransform } from "./EncryptedTable";

/**
 * DynamoDB table `notificationLog` (layout in runtime/tables.ts), encrypted, with point-in-time recovery.
 *
 * @example
 * const table = new NotificationLogTable("notificationLog", { kmsKeyArn: key.arn });
 */
export class NotificationLogTable extends EncryptedTable {
  /** The table's physical name. */
  declare readonly name: pulumi.Output<string>;
  declare readonly arn: pulumi.Output<string>;

  constructor(name: string, args: EncryptedTableArgs, opts?: TidingsComponentOptions<EncryptedTableTransform>) {
    super("tidings:index:NotificationLogTable", name, TABLES.notificationLog, args, opts);
  }
}
