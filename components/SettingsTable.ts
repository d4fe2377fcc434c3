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
  constructor(name: string, args: EncryptedTableArgs, opts?: TidingsComponentOptions<EncryptedTableTransform>) {
    super("tidings:aws:SettingsTable", name, TABLES.settings, args, opts);
  }
}
