import type * as pulumi from "@pulumi/pulumi";
import { TABLES } from "../runtime/tables";
import { EncryptedTable, type EncryptedTableArgs } from "./EncryptedTable";

/**
 * DynamoDB table `connections` (layout in runtime/tables.ts), encrypted, with point-in-time recovery.
 *
 * @example
 * const table = new ConnectionsTable("connections", { kmsKeyArn: key.arn });
 */
export class ConnectionsTable extends EncryptedTable {
  constructor(name: string, args: EncryptedTableArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tidings:aws:ConnectionsTable", name, TABLES.connections, args, opts);
  }
}
