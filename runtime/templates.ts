/**
 * Notification templates: JSON `{ "subject"?, "text", "html"? }` at `templates/<type>/<channel>.json`
 * (same key in the templates bucket). Rendered with mustache: logic-less, so a template cannot run code,
 * and data comes from JSON, so it holds no mustache lambdas. HTML is escaped in `html` only.
 */
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { parse as parseMustache, render as renderMustache } from "mustache";
import { localeChain } from "./locales";
import { z } from "zod";
import type { RenderedContent } from "./contracts";

export interface Template {
  subject?: string;
  text: string;
  html?: string;
}

export type TemplateLoadResult = { ok: true; template: Template } | { ok: false; reason: "missing" | "invalid"; problem: string };

export type RenderResult = { ok: true; content: RenderedContent } | { ok: false; missing: string[] };

/** Largest template file accepted. */
export const MAX_TEMPLATE_BYTES = 64 * 1024;
/** Longest subject made from the first line of a literal message. */
export const MAX_SUBJECT_CHARS = 78;

/** S3 key (and repository path) of the template for a type or template name on a channel, in a locale's variant. */
export function templateKey(name: string, channel: string, locale?: string): string {
  return `templates/${name}/${channel}${locale ? `.${locale}` : ""}.json`;
}

/** Every variable a template's fields name (sections included), sorted: what its locale variants must name too. */
export function templateVariables(template: Template): string[] {
  const names = new Set<string>();
  const walk = (tokens: Token[]) => {
    for (const token of tokens) {
      if (["name", "&", "#", "^"].includes(token[0])) names.add(token[1]);
      if (Array.isArray(token[4])) walk(token[4]);
    }
  };
  for (const field of [template.subject, template.text, template.html]) if (field !== undefined) walk(parseMustache(field) as Token[]);
  return [...names].sort();
}

function templateSchema() {
  return z.strictObject({
    subject: z.string().min(1).max(998).optional(),
    text: z.string().min(1),
    html: z.string().min(1).optional(),
  });
}

/** Checks template JSON: shape, mustache syntax, no partials, no unescaped output in html. */
export function parseTemplate(json: string, where: string): TemplateLoadResult {
  if (Buffer.byteLength(json, "utf8") > MAX_TEMPLATE_BYTES) {
    return { ok: false, reason: "invalid", problem: `template ${where} is larger than ${MAX_TEMPLATE_BYTES} bytes` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    return { ok: false, reason: "invalid", problem: `template ${where} is not JSON: ${(error as Error).message}` };
  }
  const parsed = templateSchema().safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) =>
      issue.code === "unrecognized_keys"
        ? `unknown keys ${issue.keys.join(", ")}`
        : `${issue.path.join(".") || "template"}: ${issue.message}`,
    );
    return { ok: false, reason: "invalid", problem: `template ${where} is not { subject?, text, html? }: ${problems.join("; ")}` };
  }
  const template = parsed.data;
  for (const part of ["subject", "text", "html"] as const) {
    const source = template[part];
    if (source === undefined) continue;
    let tokens: Token[];
    try {
      tokens = parseMustache(source) as Token[];
    } catch (error) {
      return { ok: false, reason: "invalid", problem: `template ${where} ${part}: ${(error as Error).message}` };
    }
    const forbidden = tokenTypes(tokens).find((type) => type === ">" || (part === "html" && type === "&"));
    if (forbidden) {
      const what = forbidden === ">" ? "partials ({{> name}}) are not supported" : "html must not use unescaped {{{ }}} or {{& }}";
      return { ok: false, reason: "invalid", problem: `template ${where} ${part}: ${what}` };
    }
  }
  return { ok: true, template };
}

/** A mustache token: [type, name or text, start, end, nested tokens of a section, …]. */
export type MustacheToken = Token;
type Token = [type: string, value: string, start: number, end: number, children?: Token[], ...rest: unknown[]];

function tokenTypes(tokens: Token[]): string[] {
  const types: string[] = [];
  for (const token of tokens) {
    types.push(token[0]);
    if (Array.isArray(token[4])) types.push(...tokenTypes(token[4]));
  }
  return types;
}

export interface TemplateStoreDeps {
  s3: S3Client;
  bucket: string;
  /** How long a loaded template is reused. @default 60000 */
  cacheTtlMs?: number;
  now?: () => number;
}

/**
 * Loads templates from S3, caching what it found for `cacheTtlMs`. A missing template is asked again
 * next time; a missing locale variant is remembered as missing for as long (most locales have none).
 */
export function makeTemplateStore(deps: TemplateStoreDeps) {
  const ttl = deps.cacheTtlMs ?? 60_000;
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { template: Template | undefined; until: number }>();

  async function loadKey(key: string, rememberMissing: boolean): Promise<TemplateLoadResult | undefined> {
    const cached = cache.get(key);
    if (cached && cached.until > now()) return cached.template ? { ok: true, template: cached.template } : undefined;
    let body: string;
    try {
      const object = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: key }));
      body = (await object.Body?.transformToString("utf-8")) ?? "";
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === "NoSuchKey" || e.name === "NotFound" || e.$metadata?.httpStatusCode === 404) {
        if (rememberMissing) cache.set(key, { template: undefined, until: now() + ttl });
        return undefined;
      }
      throw error;
    }
    const result = parseTemplate(body, key);
    if (result.ok) cache.set(key, { template: result.template, until: now() + ttl });
    return result;
  }

  return {
    /** The template of `name` on `channel`: the variant of `locale` (or of its language) when there is one. */
    async load(name: string, channel: string, locale?: string): Promise<TemplateLoadResult> {
      for (const variant of localeChain(locale)) {
        const found = await loadKey(templateKey(name, channel, variant), true);
        if (found) return found;
      }
      const found = await loadKey(templateKey(name, channel), false);
      return found ?? { ok: false, reason: "missing", problem: `no template for type ${name} on channel ${channel}` };
    },
  };
}

export type TemplateStore = ReturnType<typeof makeTemplateStore>;

const hasOwn = (value: unknown, key: string) => value !== null && typeof value === "object" && Object.hasOwn(value, key);

/** Value of a mustache name in a context stack (innermost last), reading own properties only. */
function resolve(name: string, stack: unknown[]): { found: boolean; value?: unknown } {
  if (name === ".") return { found: true, value: stack[stack.length - 1] };
  const parts = name.split(".");
  for (let i = stack.length - 1; i >= 0; i--) {
    if (!hasOwn(stack[i], parts[0])) continue;
    let value: unknown = stack[i];
    for (const part of parts) {
      if (!hasOwn(value, part)) return { found: false };
      value = (value as Record<string, unknown>)[part];
    }
    return value === undefined || value === null ? { found: false } : { found: true, value };
  }
  return { found: false };
}

/** Every variable a token list reads that `stack` does not hold, following sections as mustache would. */
function collectMissing(tokens: Token[], stack: unknown[], missing: Set<string>): void {
  for (const token of tokens) {
    const [type, name, , , children = []] = token;
    if (type === "name" || type === "&") {
      if (!resolve(name, stack).found) missing.add(name);
    } else if (type === "#") {
      const { found, value } = resolve(name, stack);
      if (!found) {
        missing.add(name);
      } else if (Array.isArray(value)) {
        for (const item of value) collectMissing(children, [...stack, item], missing);
      } else if (value) {
        collectMissing(children, typeof value === "object" ? [...stack, value] : stack, missing);
      }
    } else if (type === "^") {
      // An inverted section exists to render when its variable is absent: it needs nothing itself.
      const { found, value } = resolve(name, stack);
      if (!found || !value || (Array.isArray(value) && value.length === 0)) collectMissing(children, stack, missing);
    }
  }
}

/** A copy without prototypes, so no template name can reach `constructor` or `__proto__` of the data. */
function withoutPrototypes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutPrototypes);
  if (value === null || typeof value !== "object") return value;
  const copy = Object.create(null);
  for (const key of Object.keys(value)) copy[key] = withoutPrototypes((value as Record<string, unknown>)[key]);
  return copy;
}

const identity = (text: string) => text;

/**
 * Renders a template with `data`; every variable the template names must be in data (all missing ones
 * are listed, sorted). `subject` is kept to one line.
 */
export function renderTemplate(template: Template, data: Record<string, unknown> = {}): RenderResult {
  const missing = new Set<string>();
  for (const source of [template.subject, template.text, template.html]) {
    if (source !== undefined) collectMissing(parseMustache(source) as Token[], [data], missing);
  }
  if (missing.size) return { ok: false, missing: [...missing].sort() };
  const view = withoutPrototypes(data);
  const plain = { escape: identity };
  const content: RenderedContent = { text: renderMustache(template.text, view, {}, plain) };
  if (template.subject !== undefined) content.subject = oneLine(renderMustache(template.subject, view, {}, plain));
  if (template.html !== undefined) content.html = renderMustache(template.html, view);
  return { ok: true, content };
}

/** Line breaks in a subject would let data add mail headers: fold them into spaces. */
function oneLine(text: string): string {
  return text.replace(/[\r\n\u2028\u2029]+/g, " ").trim();
}

/** Content of a request that carries its own message: the text as is, its first line as subject. */
export function contentFromMessage(message: string): RenderedContent {
  const firstLine = oneLine(message.split(/\r?\n/).find((line) => line.trim()) ?? message);
  const chars = [...firstLine];
  const subject = chars.length > MAX_SUBJECT_CHARS ? `${chars.slice(0, MAX_SUBJECT_CHARS - 1).join("")}…` : firstLine;
  return { text: message, subject };
}
