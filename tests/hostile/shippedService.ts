import * as aws from "@pulumi/aws";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { ContactsTable } from "../../components/ContactsTable";
import { NotificationApi } from "../../components/NotificationApi";
import { NotificationLogTable } from "../../components/NotificationLogTable";
import { SettingsTable } from "../../components/SettingsTable";
import { TemplatesBucket } from "../../components/TemplatesBucket";
import { type EventBridgeEvent, type LocalEventBus, startEventBus } from "../../local/eventBridge";
import { type LocalAws, startLocalAws } from "../../local/aws";
import { readStackFile } from "../../local/stackConfig";
import { enabledChannels, parseTidingsConfig, type TidingsConfig } from "../../runtime/config";
import type { HttpResult } from "../../runtime/contracts";
import type { HttpApiEvent } from "../../runtime/notify";
import { settle, useMocks, outputValue } from "../../testing";
import { asProducer, loadShipped } from "../helpers/shipped";

export interface ShippedService {
  aws: LocalAws;
  bus: LocalEventBus;
  /**
   * Every event a rule on the stack's bus (`source: tidings`) received, unbounded; up to date once
   * `bus.idle()` resolved (post() waits for it).
   */
  events: EventBridgeEvent[];
  config: TidingsConfig;
  /** The component under test (its scheduling child's functions are shipped code too). */
  api: NotificationApi;
  names: { contacts: string; settings: string; log: string; bucket: string; bus: string };
  ddb: DynamoDBDocumentClient;
  s3: S3Client;
  /** The handler Lambda would run. */
  handler: (event: HttpApiEvent) => Promise<HttpResult>;
  /** POSTs a body the way API Gateway hands it over; parses the JSON answer. */
  post(
    body: string | object | undefined,
    options?: { base64?: boolean },
  ): Promise<{ status: number; body: any; headers: Record<string, string> }>;
  putContact(item: Record<string, unknown>): Promise<void>;
  putSettings(item: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

export function devConfig(): TidingsConfig {
  return parseTidingsConfig(readStackFile());
}

export interface ShippedServiceOptions {
  /** Channels to switch on on top of Pulumi.dev.yaml (push is off there). */
  enable?: string[];
}

export async function startShippedService(options: ShippedServiceOptions = {}): Promise<ShippedService> {
  const localAws = await startLocalAws();
  localAws.applyEnv();
  const bus = await startEventBus();
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = bus.endpoint;

  const config = devConfig();
  for (const channel of options.enable ?? []) config.channels[channel].enabled = true;
  useMocks();
  const kmsKeyArn = "arn:aws:kms:us-east-1:000000000000:key/local";
  const eventBus = new aws.cloudwatch.EventBus("notifications", {});
  const contactsTable = new ContactsTable("contacts", { kmsKeyArn });
  const settingsTable = new SettingsTable("settings", { kmsKeyArn });
  const notificationLogTable = new NotificationLogTable("notification-log", { kmsKeyArn });
  const templates = new TemplatesBucket("templates", { kmsKeyArn });
  const api = new NotificationApi("producer-api", {
    bus: eventBus,
    contactsTable,
    settingsTable,
    notificationLogTable,
    templates,
    enabledChannels: enabledChannels(config),
    types: config.notificationTypes,
    kmsKeyArn,
  });
  await settle();
  const names = {
    contacts: await outputValue(contactsTable.name),
    settings: await outputValue(settingsTable.name),
    log: await outputValue(notificationLogTable.name),
    bucket: await outputValue(templates.bucketName),
    bus: await outputValue(eventBus.name),
  };

  await localAws.createTables({ contacts: names.contacts, settings: names.settings, notificationLog: names.log });
  const s3 = new S3Client({ forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: names.bucket }));
  for (const template of templates.templates) {
    await s3.send(
      new PutObjectCommand({ Bucket: names.bucket, Key: template.key, Body: template.content, ContentType: "application/json" }),
    );
  }
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  // A rule on the mocked bus name: an event put on any other bus would not reach it.
  const events: EventBridgeEvent[] = [];
  bus.addRule({
    name: "tests-see-everything",
    eventBusName: names.bus,
    pattern: { source: ["tidings"] },
    target: async (event) => void events.push(event),
  });

  const shipped = await loadShipped<HttpApiEvent, HttpResult>(api.function);
  const handler = asProducer(shipped.handler);

  return {
    aws: localAws,
    bus,
    events,
    config,
    api,
    names,
    ddb,
    s3,
    handler,
    async post(body, options = {}) {
      const text = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
      const event: HttpApiEvent = {
        body: text === undefined ? undefined : options.base64 ? Buffer.from(text, "utf8").toString("base64") : text,
        isBase64Encoded: !!options.base64,
        headers: { "content-type": "application/json" },
        requestContext: { http: { method: "POST", path: "/notifications" } },
      };
      const result = await handler(event);
      await bus.idle();
      return { status: result.statusCode, body: result.body ? JSON.parse(result.body) : undefined, headers: result.headers ?? {} };
    },
    async putContact(item) {
      await ddb.send(new PutCommand({ TableName: names.contacts, Item: item }));
    },
    async putSettings(item) {
      await ddb.send(new PutCommand({ TableName: names.settings, Item: item }));
    },
    async stop() {
      ddb.destroy();
      s3.destroy();
      await bus.stop();
      await localAws.stop();
    },
  };
}
