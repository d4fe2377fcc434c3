import type * as pulumi from "@pulumi/pulumi";
import { TABLES } from "../runtime/tables";
import { EncryptedTable, type EncryptedTableArgs } from "./EncryptedTable";

/**
 * DynamoDB table `feed` (layout in runtime/tables.ts): every websocket-channel notification stored for
 * its user until its TTL, with read and archive state. Encrypted, with point-in-time recovery.
 *
 * @example
 * const table = new FeedTable("feed", { kmsKeyArn: key.arn });
 */
export class FeedTable extends EncryptedTable {
  constructor(name: string, args: EncryptedTableArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tidings:aws:FeedTable", name, TABLES.feed, args, opts);
  }
}
