/**
 * The types grants recorded for producers (`grantSend(role, { types })`): IAM cannot see a request's
 * body, so the grant writes the role's types to the templates bucket (`producers/<sha256 of its id>.json`,
 * `{ "types": [...] }`) and the notification service reads them here, cached like the templates.
 */
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { producerGrantKey } from "./producers";

export interface ProducerGrantsDeps {
  s3: S3Client;
  bucket: string;
  /** How long a record (or its absence) is reused. @default 60000 */
  cacheTtlMs?: number;
  now?: () => number;
}

export function makeProducerGrants(deps: ProducerGrantsDeps) {
  const ttl = deps.cacheTtlMs ?? 60_000;
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { types: string[] | undefined; until: number }>();

  return async function recordedTypes(producer: string): Promise<string[] | undefined> {
    const cached = cache.get(producer);
    if (cached && cached.until > now()) return cached.types;
    let types: string[] | undefined;
    try {
      const object = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: producerGrantKey(producer) }));
      const parsed = JSON.parse((await object.Body?.transformToString("utf-8")) ?? "{}") as { types?: unknown };
      if (!Array.isArray(parsed.types) || !parsed.types.every((t) => typeof t === "string")) {
        throw new Error(`${producerGrantKey(producer)}: "types" must be a list of type names`);
      }
      types = parsed.types;
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (!(e.name === "NoSuchKey" || e.name === "NotFound" || e.$metadata?.httpStatusCode === 404)) throw error;
    }
    cache.set(producer, { types, until: now() + ttl });
    return types;
  };
}
