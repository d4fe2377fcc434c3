/**
 * AWS-compatible servers on this machine, all bound to 127.0.0.1: dynalite (DynamoDB), fauxqs (SQS,
 * SNS, S3) and aws-ses-v2-local (SES v2 with an inbox page). Used by `npm start` and by the tests, so
 * both exercise the same servers. `env` points AWS SDK v3 clients at them. S3 clients need
 * `forcePathStyle: true` here (no bucket subdomains on 127.0.0.1).
 */
import { guardLocalServer } from "./localGuards";
import type { EventEmitter } from "node:events";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { keyAttributes, projectionOf, TABLES, type TableLayout, type TableName } from "../runtime/tables";

export interface LocalAwsOptions {
  /** 0 = any free port. */
  dynamodbPort?: number;
  sqsPort?: number;
  sesPort?: number;
  region?: string;
}

export interface LocalAws {
  region: string;
  endpoints: { dynamodb: string; sqs: string; sns: string; s3: string; ses: string };
  /** Env vars that point SDK v3 clients here (with fake credentials). */
  env: Record<string, string>;
  /** Applies `env` to process.env. */
  applyEnv(): void;
  /** Creates tables with the layouts the components use; returns the names given. */
  createTables(names: Partial<Record<TableName, string>>): Promise<void>;
  stop(): Promise<void>;
}

export const LOCAL_ACCOUNT = "000000000000";

export async function startLocalAws(options: LocalAwsOptions = {}): Promise<LocalAws> {
  const region = options.region ?? "us-east-1";
  const host = "127.0.0.1";

  const started: (() => Promise<void>)[] = [];
  const stopStarted = async () => {
    for (const stop of started.reverse()) await stop().catch(() => undefined);
  };
  let dynalite: Server, fauxqs: Awaited<ReturnType<typeof buildFauxqs>>, sesServer: Server, restoreDns: () => void;
  try {
    // dynalite (no types of its own) returns a node:http Server.
    dynalite = require("dynalite")({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await listening(dynalite, options.dynamodbPort, "DynamoDB (dynalite)", () => dynalite.listen(options.dynamodbPort ?? 0, host));
    started.push(() => new Promise<void>((resolve) => dynalite.close(() => resolve())));

    // fauxqs is ESM-only; its own startFauxqs() binds 0.0.0.0, so build the app and bind loopback ourselves.
    // Its queue URLs name sqs.<region>.localhost: resolve *.localhost to loopback in this process.
    const { interceptLocalhostDns } = await import("fauxqs");
    restoreDns = interceptLocalhostDns();
    started.push(async () => restoreDns());
    fauxqs = await buildFauxqs(region);
    await fauxqs.listen({ port: options.sqsPort ?? 0, host }).catch((error: unknown) => {
      throw portError(error, options.sqsPort, "SQS/S3 (fauxqs)");
    });
    started.push(() => fauxqs.close());

    // aws-ses-v2-local resolves with its server even when it could not bind (the error went to its callback).
    const startSes: (config: { host: string; port: number }) => Promise<Server> = require("aws-ses-v2-local").default;
    sesServer = await startSes({ host, port: options.sesPort ?? 0 });
    if (!sesServer.listening) {
      throw portError({ code: "EADDRINUSE" }, options.sesPort, "SES (aws-ses-v2-local)");
    }
    // Its inbox page and /store, /clear-store: no cross-site page may read or clear the mail, or frame it.
    guardLocalServer(sesServer);
    started.push(
      () =>
        new Promise<void>((resolve) => {
          sesServer.close(() => resolve());
          sesServer.closeAllConnections?.();
        }),
    );
  } catch (error) {
    await stopStarted();
    throw error;
  }

  const url = (port: number) => `http://${host}:${port}`;
  const fauxqsPort = (fauxqs.server.address() as AddressInfo).port;
  const endpoints = {
    dynamodb: url((dynalite.address() as AddressInfo).port),
    // The same origin as fauxqs's queue URLs, so SQS clients do not warn that they differ.
    sqs: `http://sqs.${region}.localhost:${fauxqsPort}`,
    sns: url(fauxqsPort),
    s3: url(fauxqsPort),
    ses: url((sesServer.address() as AddressInfo).port),
  };
  const env: Record<string, string> = {
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: "local",
    AWS_SECRET_ACCESS_KEY: "local",
    // This machine runs Node 20 on purpose (Lambda runs 22); the SDK's notice about that is noise here.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_SNS: endpoints.sns,
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_SESV2: endpoints.ses,
    AWS_ENDPOINT_URL_SES: endpoints.ses,
  };

  return {
    region,
    endpoints,
    env,
    applyEnv() {
      Object.assign(process.env, env);
    },
    async createTables(names) {
      const ddb = new DynamoDBClient({
        region,
        endpoint: endpoints.dynamodb,
        credentials: { accessKeyId: "local", secretAccessKey: "local" },
      });
      for (const [key, tableName] of Object.entries(names) as [TableName, string][]) {
        const layout: TableLayout = TABLES[key];
        const attributes = keyAttributes(layout);
        await ddb.send(
          new CreateTableCommand({
            TableName: tableName,
            BillingMode: "PAY_PER_REQUEST",
            AttributeDefinitions: attributes.map((a) => ({ AttributeName: a, AttributeType: "S" })),
            KeySchema: [
              { AttributeName: layout.hashKey, KeyType: "HASH" },
              ...(layout.rangeKey ? [{ AttributeName: layout.rangeKey, KeyType: "RANGE" as const }] : []),
            ],
            GlobalSecondaryIndexes: layout.indexes
              ? Object.entries(layout.indexes).map(([IndexName, index]) => ({
                  IndexName,
                  KeySchema: [
                    { AttributeName: index.hashKey, KeyType: "HASH" as const },
                    { AttributeName: index.rangeKey, KeyType: "RANGE" as const },
                  ],
                  Projection: projectionOf(index),
                }))
              : undefined,
          }),
        );
      }
      ddb.destroy();
    },
    async stop() {
      await stopStarted();
    },
  };
}

async function buildFauxqs(region: string) {
  const { buildApp } = await import("fauxqs");
  return buildApp({ logger: false, defaultRegion: region });
}

/** Calls `listen` and resolves once `server` listens; a port in use becomes an error naming port and service. */
function listening(server: EventEmitter, port: number | undefined, what: string, listen: () => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: unknown) => {
      server.off("listening", onListening);
      reject(portError(error, port, what));
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    listen();
  });
}

function portError(error: unknown, port: number | undefined, what: string): Error {
  if ((error as { code?: string })?.code === "EADDRINUSE") {
    return new Error(`${what} could not listen on 127.0.0.1:${port}: the port is in use (choose another one)`);
  }
  return error instanceof Error ? error : new Error(String(error));
}
