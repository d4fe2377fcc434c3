/**
 * Runs the code `pulumi up` would ship: serializes an InlineFunction's factory the way CallbackFunction
 * does, writes the module inside the repo (so node_modules resolves) and requires it. The returned
 * handler is what Lambda would call.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { InlineFunction } from "../../components/InlineFunction";

const outDir = path.join(__dirname, "..", ".shipped");
let counter = 0;

export interface ShippedModule<E, R> {
  handler: (event: E) => Promise<R>;
  /** The serialized text: what goes into the Lambda archive as __index.js. */
  text: string;
  file: string;
}

export async function loadShipped<E = any, R = any>(fn: InlineFunction<E, R>): Promise<ShippedModule<E, R>> {
  const serialized = await pulumi.runtime.serializeFunction(fn.factory, { isFactoryFunction: true });
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${fn.function ? "fn" : "x"}-${process.pid}-${counter++}.js`);
  fs.writeFileSync(file, serialized.text);
  const mod = require(file);
  return { handler: mod[serialized.exportName], text: serialized.text, file };
}
