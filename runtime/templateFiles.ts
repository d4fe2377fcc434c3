/**
 * Template files as a stack ships them (`<dir>/<type>/<channel>.json`), read and checked the same way
 * by the stack (components/TemplatesBucket.ts uploads them) and the local mode, and the completeness
 * check both run before anything starts: every (type, channel) a type can reach has its template.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { allowedTemplates, type NotificationTypeConfig } from "./config";
import { CHANNEL_NAME_PATTERN, TYPE_NAME_PATTERN } from "./configTypes";
import { canonicalLocale } from "./locales";
import { parseTemplate, type Template, templateKey, templateVariables } from "./templates";
import { channelsOfType } from "./validate";

/** One template file found in a templates folder. */
export interface TemplateFile {
  type: string;
  channel: string;
  /** A locale's variant (`<channel>.<locale>.json`): the same variables as `<channel>.json`. */
  locale?: string;
  key: string;
  file: string;
  content: string;
}

/** A folder of templates that is misplaced or holds invalid ones (each problem named). */
export class TemplateFilesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TemplateFilesError";
  }
}

/** The repository's `templates/` folder: the ones Tidings ships. */
export function shippedTemplatesDir(): string {
  return path.join(__dirname, "..", "templates");
}

/** Reads every folder in order; a later folder's template replaces an earlier one's with the same key. */
export function readTemplateDirs(dirs: string[]): TemplateFile[] {
  const byKey = new Map<string, TemplateFile>();
  for (const dir of dirs) for (const template of readTemplates(dir)) byKey.set(template.key, template);
  const templates = [...byKey.values()];
  const problems = variantProblems(templates);
  if (problems.length) throw new TemplateFilesError(`fix these templates:\n  - ${problems.join("\n  - ")}`);
  return templates;
}

/**
 * A locale's variant says what its template says in another language: the template is there (in any of
 * the folders), and the variant uses the same variables, no more, no fewer.
 */
function variantProblems(templates: TemplateFile[]): string[] {
  const parsed = (t: TemplateFile) => (parseTemplate(t.content, t.file) as { ok: true; template: Template }).template;
  const bases = new Map(templates.filter((t) => !t.locale).map((t) => [`${t.type}/${t.channel}`, t]));
  const problems: string[] = [];
  for (const variant of templates.filter((t) => t.locale)) {
    const name = `${variant.type}/${variant.channel}.${variant.locale}.json`;
    const base = bases.get(`${variant.type}/${variant.channel}`);
    if (!base) {
      problems.push(`${name}: a locale's variant needs ${variant.type}/${variant.channel}.json in one of the templates folders`);
      continue;
    }
    const [want, have] = [templateVariables(parsed(base)), templateVariables(parsed(variant))];
    if (want.join() !== have.join())
      problems.push(
        `${name}: uses {{${have.join("}}, {{")}}} where ${variant.channel}.json uses {{${want.join("}}, {{")}}}: a variant needs the same variables`,
      );
  }
  return problems;
}

/** Reads and checks every `<type>/<channel>.json` under `dir`, naming each file that is misplaced or not a valid template. */
export function readTemplates(dir: string): TemplateFile[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new TemplateFilesError(`templates folder "${dir}" is not a folder. Point it at a folder of <type>/<channel>.json templates.`);
  }
  const templates: TemplateFile[] = [];
  const problems: string[] = [];
  for (const type of fs.readdirSync(dir).sort()) {
    const typeDir = path.join(dir, type);
    if (!fs.statSync(typeDir).isDirectory()) {
      problems.push(`${type}: expected only folders named after notification types at the top level`);
      continue;
    }
    if (!TYPE_NAME_PATTERN.test(type)) problems.push(`${type}/: folder name is not a notification type name (${TYPE_NAME_PATTERN})`);
    for (const file of fs.readdirSync(typeDir).sort()) {
      // <channel>.json, or a locale's variant <channel>.<locale>.json.
      const [channel, locale, ...rest] = file.replace(/\.json$/, "").split(".");
      if (!file.endsWith(".json") || !CHANNEL_NAME_PATTERN.test(channel) || rest.length > 0) {
        problems.push(`${type}/${file}: name templates <channel>.json (or <channel>.<locale>.json), e.g. email.json, email.de.json`);
        continue;
      }
      if (locale !== undefined && canonicalLocale(locale) !== locale) {
        problems.push(`${type}/${file}: "${locale}" is not a BCP 47 locale as written canonically (e.g. de, de-AT, pt-BR)`);
        continue;
      }
      const filePath = path.join(typeDir, file);
      const content = fs.readFileSync(filePath, "utf8");
      const checked = parseTemplate(content, `${type}/${file}`);
      if (!checked.ok) {
        problems.push(checked.problem);
        continue;
      }
      templates.push({ type, channel, ...(locale ? { locale } : {}), key: templateKey(type, channel, locale), file: filePath, content });
    }
  }
  if (problems.length) throw new TemplateFilesError(`fix these templates in ${dir}:\n  - ${problems.join("\n  - ")}`);
  return templates;
}

export interface CoverageInput {
  types: Record<string, NotificationTypeConfig>;
  /** The stack's channels, config's and those added in code. */
  channels: string[];
  /** Channels that send no rendered content (their provider declares it): no template needed. */
  channelsWithoutTemplates?: string[];
}

/**
 * The template files missing for what a type can reach: on each channel of `channelsOfType`, each
 * template a request of the type may use (its own, or those its `templates` lists) needs
 * `templates/<template>/<channel>.json`, unless the type sends only a literal `message` (`messageOnly`)
 * or the channel needs no template.
 */
export function missingTemplates(input: CoverageInput, available: Iterable<string>): string[] {
  const have = new Set(available);
  const missing = new Set<string>();
  for (const [type, config] of Object.entries(input.types)) {
    if (config.messageOnly) continue;
    for (const channel of channelsOfType(config, input.channels)) {
      if (input.channelsWithoutTemplates?.includes(channel)) continue;
      for (const template of allowedTemplates(type, config)) {
        const key = templateKey(template, channel);
        if (!have.has(key)) missing.add(key);
      }
    }
  }
  return [...missing];
}

/** What to do about missing templates: the files, and the two fixes. */
export function missingTemplatesMessage(missing: string[]): string {
  return [
    `these notification types can reach channels they have no template for:`,
    ...missing.map((key) => `  - ${key.replace(/^templates\//, "<templates>/")}`),
    `Add each file (in your templates folder: <type>/<channel>.json), or list the type's channels in`,
    `tidings:notificationTypes.<type>.channels so it reaches only those it has templates for (or set`,
    `messageOnly: true on a type that only ever sends a literal message).`,
  ].join("\n");
}
