import { TABLES } from "../runtime/tables";
import type { TidingsComponentOptions } from "./common";
import { EncryptedTable, type EncryptedTableArgs, type EncryptedTableTransform } from "./EncryptedTable";

/**
 * DynamoDB table `connections` (layout in runtime/tables.ts), encrypted, with point-in-time recovery.
 *
 * @example
 * const table = new ConnectionsTable("connections", { kmsKeyArn: key.arn });
 */
export class ConnectionsTable extends EncryptedTable {
  constructor(name: string, args: EncryptedTableArgs, opts?: TidingsComponentOptions<EncryptedTableTransform>) {
    super("tidings:aws:ConnectionsTable", name, TABLES.connections, args, opts);
  }
}
