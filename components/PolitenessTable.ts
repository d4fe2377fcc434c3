import type * as pulumi from "@pulumi/pulumi";
import { TABLES } from "../runtime/tables";
import { EncryptedTable, type EncryptedTableArgs } from "./EncryptedTable";

/**
 * DynamoDB table `politeness` (layout in runtime/tables.ts), encrypted, with point-in-time recovery.
 *
 * @example
 * const table = new PolitenessTable("politeness", { kmsKeyArn: key.arn });
 */
export class PolitenessTable extends EncryptedTable {
  constructor(name: string, args: EncryptedTableArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tidings:aws:PolitenessTable", name, TABLES.politeness, args, opts);
  }
}
