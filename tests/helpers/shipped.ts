/**
 * Runs the code `pulumi up` would ship: an InlineFunction's bundle (`shippedCode` from
 * tidings/testing, the archive's `index.js`), written inside the repo and required. Only the AWS SDK
 * resolves from node_modules, as the Lambda runtime provides it. The returned handler is what Lambda
 * would call.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { InlineFunction } from "../../components/InlineFunction";
import { shippedCode } from "../../testing";

const outDir = path.join(__dirname, "..", ".shipped");
let counter = 0;

export interface ShippedModule<E, R> {
  handler: (event: E) => Promise<R>;
  /** The bundle: what goes into the Lambda archive as index.js. */
  text: string;
  file: string;
}

export async function loadShipped<E = any, R = any>(fn: InlineFunction<E, R>): Promise<ShippedModule<E, R>> {
  const shipped = await shippedCode(fn as unknown as InlineFunction<never, unknown>);
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `fn-${process.pid}-${counter++}.js`);
  fs.writeFileSync(file, shipped.text);
  const mod = require(file);
  return { handler: mod[shipped.exportName], text: shipped.text, file };
}

/** The IAM caller the shipped producer routes see in tests: a role's session, as API Gateway passes it. */
export const TEST_PRODUCER_ARN = "arn:aws:sts::123456789012:assumed-role/test-producer/session-1";

/**
 * A producer route's handler called as API Gateway calls it after IAM auth: each event without an
 * authorizer context gets the IAM caller's (`requestContext.authorizer.iam`).
 */
export function asProducer<E extends object, R>(
  handler: (event: E) => Promise<R>,
  userArn: string = TEST_PRODUCER_ARN,
): (event: E) => Promise<R> {
  return (event: E) => {
    const context = (event as { requestContext?: Record<string, unknown> }).requestContext ?? {};
    if (context.authorizer) return handler(event);
    return handler({ ...event, requestContext: { ...context, authorizer: { iam: { userArn, accountId: "123456789012" } } } });
  };
}
