/**
 * Content rules that stop injection through template data (issue 9, item 5):
 * - a variable that starts a URL (an HTML `href`/`src`-like attribute, a Slack `<url|label>` link) must
 *   hold an absolute `https:`, `http:` or `mailto:` URL: `javascript:` survives HTML escaping;
 * - Slack text escapes `&`, `<` and `>` in data, which also neutralises `<!channel>`, `<!here>`,
 *   `<!everyone>`, `<@U…>` mentions and `<https://evil|label>` links coming from data;
 * - an SMS renders to at most 1,600 characters (SNS refuses more);
 * - bidi overrides and invisible marks are refused in text fields (runtime/validate.ts uses the pattern).
 */
import { parse as parseMustache } from "mustache";
import type { Problem } from "./contracts";
import type { MustacheToken } from "./templates";

export const URL_SCHEMES = ["https:", "http:", "mailto:"];
/** SNS refuses longer SMS text. */
export const MAX_SMS_CHARS = 1600;
/**
 * Characters that make text read differently from what it is: U+202A–U+202E (embeddings, overrides),
 * U+2066–U+2069 (isolates), U+200E, U+200F and U+061C (direction marks); invisible ones that hide or
 * split words: U+200B (zero-width space), U+2060 (word joiner), U+FEFF, U+180E; tag characters
 * (U+E0000–U+E007F), which render as nothing; and U+0085 (next line), a line break few renderers show.
 * U+200C and U+200D stay allowed: scripts (Persian, Indic) and emoji sequences need them.
 */
export const DECEPTIVE_CHARACTERS = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C\u200B\u2060\uFEFF\u180E\u0085\u{E0000}-\u{E007F}]/u;

/** Problem with a text field holding a deceptive character (DECEPTIVE_CHARACTERS), or undefined. */
export function deceptiveCharacterProblem(value: string): string | undefined {
  const match = DECEPTIVE_CHARACTERS.exec(value);
  if (!match) return undefined;
  const code = match[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
  return `must not contain bidi, invisible or tag characters (U+${code} at index ${match.index})`;
}

/** Slack's own escaping for message text: data can no longer open a link, a mention or a broadcast. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Problem with a URL taken from data, or undefined when it is an absolute URL of an allowed scheme. */
export function urlSchemeProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "is used as a URL: it must be a string";
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return "is used as a URL: it must be an absolute https:, http: or mailto: URL";
  }
  if (!URL_SCHEMES.includes(url.protocol)) return `is used as a URL: ${url.protocol} is not allowed (only https:, http: and mailto:)`;
  return undefined;
}

/** A `|` in a Slack link's URL would end the URL and start a label of the producer's choosing. */
function slackLinkProblem(value: unknown): string | undefined {
  return typeof value === "string" && value.includes("|") ? "is used as a Slack link: it must not contain | (write it %7C)" : undefined;
}

/** A URL inside Slack's `<url|label>` markup: its special characters escaped and `|` percent-encoded, so it stays one URL. */
export function slackLinkUrl(url: string): string {
  return slackEscape(url).replace(/\|/g, "%7C");
}

/** Text just before a variable that makes it the start of a URL. */
const URL_POSITION = {
  html: /[\s"'/](?:href|src|srcset|action|formaction|poster|background|xlink:href)\s*=\s*["']?\s*$/i,
  slack: /<$/,
};

type Frame = { value: unknown; path: (string | number)[] };

const hasOwn = (value: unknown, key: string) => value !== null && typeof value === "object" && Object.hasOwn(value, key);

function lookup(name: string, stack: Frame[]): Frame | undefined {
  if (name === ".") return stack[stack.length - 1];
  const parts = name.split(".");
  for (let i = stack.length - 1; i >= 0; i--) {
    if (!hasOwn(stack[i].value, parts[0])) continue;
    let frame: Frame = stack[i];
    for (const part of parts) {
      if (!hasOwn(frame.value, part)) return undefined;
      frame = { value: (frame.value as Record<string, unknown>)[part], path: [...frame.path, part] };
    }
    return frame;
  }
  return undefined;
}

function fieldOf(path: (string | number)[]): string {
  return path.reduce<string>((name, part) => (typeof part === "number" ? `${name}[${part}]` : `${name}.${part}`), "data");
}

/**
 * Problems of data values a template uses as URLs: `kind` says which positions count (HTML attributes
 * or Slack links). Sections are followed as mustache renders them, so `data.items[2].url` is named.
 */
export function urlVariableProblems(source: string | undefined, kind: keyof typeof URL_POSITION, data: Record<string, unknown>): Problem[] {
  if (source === undefined) return [];
  const problems = new Map<string, string>();
  const walk = (tokens: MustacheToken[], stack: Frame[], before: string) => {
    let text = before;
    for (const token of tokens) {
      const [type, name, , , children = []] = token;
      if (type === "text") {
        text = (text + name).slice(-200);
      } else if (type === "name" || type === "&") {
        if (URL_POSITION[kind].test(text)) {
          const frame = lookup(name, stack);
          const problem = frame
            ? (urlSchemeProblem(frame.value) ?? (kind === "slack" ? slackLinkProblem(frame.value) : undefined))
            : undefined;
          if (frame && problem) problems.set(fieldOf(frame.path), problem);
        }
        text = `${text}x`; // whatever the value, the URL has started
      } else if (type === "#") {
        const frame = lookup(name, stack);
        if (frame && Array.isArray(frame.value)) {
          for (const [i, item] of frame.value.entries()) walk(children, [...stack, { value: item, path: [...frame.path, i] }], text);
        } else if (frame?.value) {
          walk(children, typeof frame.value === "object" ? [...stack, frame] : stack, text);
        }
      } else if (type === "^") {
        walk(children, stack, text);
      }
    }
  };
  walk(parseMustache(source) as MustacheToken[], [{ value: data, path: [] }], "");
  return [...problems].map(([field, problem]) => ({ field, problem }));
}

/** The SMS length rule on rendered text; `field` is what the producer should change. */
export function smsLengthProblem(text: string, field: string): Problem | undefined {
  const length = [...text].length;
  if (length <= MAX_SMS_CHARS) return undefined;
  return { field, problem: `renders ${length} characters of SMS text; SMS allows at most ${MAX_SMS_CHARS}` };
}

/** Each value of `data` with Slack's special characters escaped, at every level. */
export function slackEscapedData<T>(value: T): T;
export function slackEscapedData(value: unknown): unknown {
  if (typeof value === "string") return slackEscape(value);
  if (Array.isArray(value)) return value.map(slackEscapedData);
  if (value !== null && typeof value === "object") {
    const copy: Record<string, unknown> = {};
    for (const key of Object.keys(value)) copy[key] = slackEscapedData((value as Record<string, unknown>)[key]);
    return copy;
  }
  return value;
}
