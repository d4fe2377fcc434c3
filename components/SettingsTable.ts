import type * as pulumi from "@pulumi/pulumi";
import { TABLES } from "../runtime/tables";
import type { TidingsComponentOptions } from "./common";
import { EncryptedTable, type EncryptedTableArgs, type EncryptedTableTransform } from "./EncryptedTable";

/**
 * DynamoDB table `settings` (layout in runtime/tables.ts), encrypted, with point-in-time recovery.
 *
 * @example
 * const table = new SettingsTable("settings", { kmsKeyArn: key.arn });
 */
export class SettingsTable extends EncryptedTable {
  /** The table's physical name. */
  declare readonly name: pulumi.Output<string>;
  declare readonly arn: pulumi.Output<string>;

  constructor(name: string, args: EncryptedTableArgs, opts?: TidingsComponentOptions<EncryptedTableTransform>) {
    super("tidings:index:SettingsTable", name, TABLES.settings, args, opts);
  }
}
