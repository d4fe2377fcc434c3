/**
 * A Secrets Manager stand-in on 127.0.0.1 answering `GetSecretValue` (JSON 1.1 wire protocol: `POST /`,
 * `X-Amz-Target: secretsmanager.GetSecretValue`) from an in-memory map, so the SDK's
 * SecretsManagerClient works unchanged with `AWS_ENDPOINT_URL_SECRETS_MANAGER` pointing here.
 */
import { randomUUID } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface LocalSecretsManager {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  /** Env var that points SDK v3 SecretsManagerClients here. */
  env: { AWS_ENDPOINT_URL_SECRETS_MANAGER: string };
  /** Stores a secret readable by its ARN and by its name (the part of the ARN after `secret:`). */
  put(arnOrName: string, value: string): void;
  /** How many GetSecretValue calls were answered (to prove a cold-start cache). */
  readonly calls: number;
  stop(): Promise<void>;
}

export async function startSecretsManager(options: { port?: number; secrets?: Record<string, string> } = {}): Promise<LocalSecretsManager> {
  const secrets = new Map<string, { arn: string; name: string; value: string; versionId: string; created: number }>();
  let calls = 0;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const target = req.headers["x-amz-target"];
      if (req.method !== "POST" || target !== "secretsmanager.GetSecretValue") {
        return error(
          res,
          "UnknownOperationException",
          `This stand-in only answers secretsmanager.GetSecretValue, not ${target ?? req.method}`,
        );
      }
      let input: { SecretId?: unknown };
      try {
        input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return error(res, "SerializationException", "Request body is not JSON");
      }
      calls++;
      const secret = typeof input.SecretId === "string" ? secrets.get(input.SecretId) : undefined;
      if (!secret) return error(res, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
      res.end(
        JSON.stringify({
          ARN: secret.arn,
          Name: secret.name,
          SecretString: secret.value,
          VersionId: secret.versionId,
          VersionStages: ["AWSCURRENT"],
          CreatedDate: secret.created,
        }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const put = (arnOrName: string, value: string) => {
    const name = arnOrName.startsWith("arn:") ? (arnOrName.split(":secret:")[1] ?? arnOrName) : arnOrName;
    const entry = { arn: arnOrName, name, value, versionId: randomUUID(), created: Date.now() / 1000 };
    secrets.set(arnOrName, entry);
    secrets.set(name, entry);
  };
  for (const [id, value] of Object.entries(options.secrets ?? {})) put(id, value);

  return {
    endpoint,
    env: { AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint },
    put,
    get calls() {
      return calls;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function error(res: http.ServerResponse, type: string, message: string) {
  res.writeHead(400, { "content-type": "application/x-amz-json-1.1", "x-amzn-errortype": type });
  res.end(JSON.stringify({ __type: type, message }));
}
