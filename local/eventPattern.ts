/**
 * EventBridge event patterns for the local bus: `validatePattern` rejects what EventBridge would reject
 * (with the path of each problem), `matchesPattern` decides whether an event matches.
 *
 * Supported: exact values (string, number, boolean, null, ""), arrays as OR, nested objects, `prefix`
 * (also `{ prefix: { "equals-ignore-case": … } }`), `suffix` (same), `anything-but` (value, list,
 * `prefix`, `suffix`, `equals-ignore-case`, `wildcard`), `numeric` (`=`, or up to one lower and one upper
 * bound), `exists`, `equals-ignore-case`, `wildcard`, `cidr` (IPv4 and IPv6) and `$or`.
 *
 * Semantics follow EventBridge: a leaf matches when any of its values (every element, when the event
 * holds an array) matches any matcher; objects inside event arrays are matched element by element, so
 * all fields of one sub-pattern must match the same element; `exists: false` matches a missing field or
 * an empty array; only `exists: false` matches a missing field.
 */
import { BlockList, isIP } from "node:net";

export type EventPattern = { [key: string]: unknown };

const MATCHER_KEYS = ["prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "wildcard", "cidr"];
const NUMERIC_OPERATORS = ["<", "<=", "=", ">", ">="];

/** Every problem with a pattern, each naming where it is; empty when the pattern is valid. */
export function patternProblems(pattern: unknown): string[] {
  const problems: string[] = [];
  if (!isPlainObject(pattern)) {
    problems.push(`the pattern must be a JSON object such as {"source": ["tidings"]}, got ${describe(pattern)}`);
  } else if (Object.keys(pattern).length === 0) {
    problems.push(`the pattern is empty: give at least one field, such as {"source": ["tidings"]}`);
  } else {
    checkObject(pattern, "", problems);
  }
  return problems;
}

/** Throws an Error listing every problem when the pattern is not one EventBridge would accept. */
export function validatePattern(pattern: unknown): asserts pattern is EventPattern {
  const problems = patternProblems(pattern);
  if (problems.length > 0) {
    throw new Error(`Invalid event pattern: ${problems.join("; ")}`);
  }
}

/** True when `event` matches `pattern`. Throws (like validatePattern) for an invalid pattern. */
export function matchesPattern(pattern: unknown, event: unknown): boolean {
  validatePattern(pattern);
  return matchObject(pattern, event);
}

// ---------------------------------------------------------------------------------------------------
// Validation

function checkObject(pattern: Record<string, unknown>, path: string, problems: string[]): void {
  for (const [key, value] of Object.entries(pattern)) {
    const where = path ? `${path}.${key}` : key;
    if (key === "$or") {
      if (!Array.isArray(value) || value.length === 0 || !value.every(isPlainObject)) {
        problems.push(`"${where}" must be a non-empty array of sub-patterns (objects)`);
        continue;
      }
      if (value.length < 2) {
        // EventBridge: an $or of one alternative is refused, not read as that alternative.
        problems.push(`"${where}": $or must have at least 2 alternatives, got 1`);
        continue;
      }
      value.forEach((sub, i) => {
        if (Object.keys(sub).length === 0) problems.push(`"${where}[${i}]" is an empty sub-pattern`);
        else checkObject(sub, path, problems);
      });
    } else if (Array.isArray(value)) {
      if (value.length === 0) problems.push(`"${where}" is an empty array: list at least one value to match`);
      for (const [i, matcher] of value.entries()) checkMatcher(matcher, `${where}[${i}]`, problems);
    } else if (isPlainObject(value)) {
      if (Object.keys(value).length === 0) problems.push(`"${where}" is an empty object: give fields or remove it`);
      else checkObject(value, where, problems);
    } else {
      problems.push(
        `"${where}" must be an array of values (e.g. "${key}": [${JSON.stringify(value)}]) or an object of fields, got ${describe(value)}`,
      );
    }
  }
}

function checkMatcher(matcher: unknown, where: string, problems: string[]): void {
  if (matcher === null || typeof matcher === "string" || typeof matcher === "boolean") return;
  if (typeof matcher === "number") {
    if (!Number.isFinite(matcher)) problems.push(`${where} must be a finite number`);
    return;
  }
  if (!isPlainObject(matcher)) {
    problems.push(`${where} must be a string, number, boolean, null or a matcher object, got ${describe(matcher)}`);
    return;
  }
  const keys = Object.keys(matcher);
  if (keys.length !== 1 || !MATCHER_KEYS.includes(keys[0])) {
    problems.push(`${where} must have exactly one of ${MATCHER_KEYS.join(", ")}; got {${keys.join(", ")}}`);
    return;
  }
  const kind = keys[0];
  const operand = matcher[kind];
  const at = `${where}.${kind}`;
  switch (kind) {
    case "prefix":
    case "suffix":
      if (typeof operand === "string") return;
      if (isPlainObject(operand) && Object.keys(operand).length === 1 && typeof operand["equals-ignore-case"] === "string") return;
      problems.push(`${at} must be a string or {"equals-ignore-case": "<string>"}`);
      return;
    case "equals-ignore-case":
      if (typeof operand !== "string") problems.push(`${at} must be a string`);
      return;
    case "exists":
      if (typeof operand !== "boolean") problems.push(`${at} must be true or false`);
      return;
    case "wildcard":
      checkWildcard(operand, at, problems);
      return;
    case "cidr":
      if (typeof operand !== "string" || !parseCidr(operand)) {
        problems.push(`${at} must be an IPv4 or IPv6 block in CIDR notation such as "10.0.0.0/24", got ${describe(operand)}`);
      }
      return;
    case "numeric":
      checkNumeric(operand, at, problems);
      return;
    case "anything-but":
      checkAnythingBut(operand, at, problems);
      return;
  }
}

function checkWildcard(operand: unknown, at: string, problems: string[]): void {
  if (typeof operand !== "string") {
    problems.push(`${at} must be a string`);
    return;
  }
  for (let i = 0; i < operand.length; i++) {
    const c = operand[i];
    if (c === "\\") {
      const next = operand[i + 1];
      if (next !== "*" && next !== "\\") {
        problems.push(`${at}: a backslash may only escape "*" or "\\" in ${JSON.stringify(operand)}`);
        return;
      }
      i++;
    } else if (c === "*" && operand[i + 1] === "*") {
      problems.push(`${at}: consecutive "*" are not allowed in ${JSON.stringify(operand)}`);
      return;
    }
  }
}

function checkNumeric(operand: unknown, at: string, problems: string[]): void {
  if (!Array.isArray(operand) || operand.length === 0 || operand.length % 2 !== 0) {
    problems.push(`${at} must be operator/number pairs such as [">", 0, "<=", 5]`);
    return;
  }
  let lower: number | undefined;
  let upper: number | undefined;
  let equals = false;
  for (let i = 0; i < operand.length; i += 2) {
    const [op, value] = [operand[i], operand[i + 1]];
    if (typeof op !== "string" || !NUMERIC_OPERATORS.includes(op)) {
      problems.push(`${at}: ${describe(op)} is not one of ${NUMERIC_OPERATORS.join(", ")}`);
      return;
    }
    if (typeof value !== "number" || !Number.isFinite(value)) {
      problems.push(`${at}: "${op}" needs a finite number, got ${describe(value)}`);
      return;
    }
    if (op === "=") equals = true;
    else if (op.startsWith(">")) {
      if (upper !== undefined) {
        // EventBridge reads a range lower bound first: "<" or "<=" must be the last term.
        return void problems.push(
          `${at}: Too many elements in numeric expression (a range gives its lower bound first, e.g. [">", 0, "<", 5])`,
        );
      }
      if (lower !== undefined) return void problems.push(`${at} has more than one lower bound (">" or ">=")`);
      lower = value;
    } else {
      if (upper !== undefined) return void problems.push(`${at} has more than one upper bound ("<" or "<=")`);
      upper = value;
    }
  }
  if (equals && operand.length !== 2) problems.push(`${at}: "=" cannot be combined with other operators`);
  if (lower !== undefined && upper !== undefined && lower >= upper) {
    problems.push(`${at}: the lower bound ${lower} must be below the upper bound ${upper}`);
  }
}

function checkAnythingBut(operand: unknown, at: string, problems: string[]): void {
  const isValue = (v: unknown) => typeof v === "string" || (typeof v === "number" && Number.isFinite(v));
  if (isValue(operand)) return;
  if (Array.isArray(operand)) {
    if (operand.length === 0 || !operand.every(isValue)) {
      problems.push(`${at} as a list must hold at least one string or number, and only those`);
    } else if (operand.some((v) => typeof v === "string") && operand.some((v) => typeof v === "number")) {
      problems.push(`${at}: Inside anything but list, either all values are number or string, mixed type is not supported`);
    }
    return;
  }
  const forms = ["prefix", "suffix", "equals-ignore-case", "wildcard"];
  if (isPlainObject(operand) && Object.keys(operand).length === 1 && forms.includes(Object.keys(operand)[0])) {
    const [form, value] = Object.entries(operand)[0];
    const strings = Array.isArray(value) ? value : [value];
    if (strings.length === 0 || !strings.every((s) => typeof s === "string")) {
      problems.push(`${at}.${form} must be a string or a non-empty list of strings`);
    } else if ((form === "prefix" || form === "suffix") && strings.some((s) => s === "")) {
      problems.push(`${at}.${form}: Null prefix/suffix not allowed (an empty ${form} would exclude every value)`);
    } else if (form === "wildcard") {
      for (const s of strings) checkWildcard(s, `${at}.wildcard`, problems);
    }
    return;
  }
  problems.push(
    `${at} must be a string, a number, a list of them, or one of {${forms.map((f) => `"${f}": …`).join(", ")}}; got ${describe(operand)}`,
  );
}

// ---------------------------------------------------------------------------------------------------
// Matching (the pattern is valid by now)

function matchObject(pattern: Record<string, unknown>, value: unknown): boolean {
  if (Array.isArray(value)) {
    // Objects inside arrays match element by element; an array without objects is no object at all.
    const elements = flatten(value).filter(isPlainObject);
    if (elements.length === 0) return matchObject(pattern, undefined);
    return elements.some((element) => matchObject(pattern, element));
  }
  const fields = isPlainObject(value) ? value : undefined;
  for (const [key, sub] of Object.entries(pattern)) {
    if (key === "$or") {
      if (!(sub as Record<string, unknown>[]).some((alternative) => matchObject(alternative, fields))) return false;
      continue;
    }
    const field = fields && Object.hasOwn(fields, key) ? fields[key] : undefined;
    const matched = Array.isArray(sub) ? matchLeaf(sub, field) : matchObject(sub as Record<string, unknown>, field);
    if (!matched) return false;
  }
  return true;
}

type Scalar = string | number | boolean | null;

function matchLeaf(matchers: unknown[], field: unknown): boolean {
  const values = leafValues(field);
  return matchers.some((matcher) => {
    if (isPlainObject(matcher) && "exists" in matcher) return matcher.exists === values.length > 0;
    return values.some((value) => matchValue(matcher, value));
  });
}

function matchValue(matcher: unknown, value: Scalar): boolean {
  if (!isPlainObject(matcher)) return matcher === value;
  // The pattern was validated when the rule was added: each kind's operand has the shape checked there.
  const [kind, operand] = Object.entries(matcher)[0];
  switch (kind) {
    case "prefix":
    case "suffix":
      return typeof value === "string" && affixMatches(kind, operand as Affix, value);
    case "equals-ignore-case":
      return typeof value === "string" && value.toLowerCase() === (operand as string).toLowerCase();
    case "wildcard":
      return typeof value === "string" && wildcardRegExp(operand as string).test(value);
    case "cidr":
      return typeof value === "string" && cidrContains(operand as string, value);
    case "numeric":
      return typeof value === "number" && numericMatches(operand as (string | number)[], value);
    case "anything-but":
      return anythingButMatches(operand, value);
  }
  return false;
}

type Affix = string | { "equals-ignore-case": string };

function affixMatches(kind: string, operand: Affix, value: string): boolean {
  const ignoreCase = typeof operand !== "string";
  const affix = ignoreCase ? operand["equals-ignore-case"].toLowerCase() : operand;
  const subject = ignoreCase ? value.toLowerCase() : value;
  return kind === "prefix" ? subject.startsWith(affix) : subject.endsWith(affix);
}

function numericMatches(operand: (string | number)[], value: number): boolean {
  for (let i = 0; i < operand.length; i += 2) {
    const bound = operand[i + 1] as number;
    const ok =
      operand[i] === "<"
        ? value < bound
        : operand[i] === "<="
          ? value <= bound
          : operand[i] === "="
            ? value === bound
            : operand[i] === ">"
              ? value > bound
              : value >= bound;
    if (!ok) return false;
  }
  return true;
}

/**
 * anything-but with a value or a list excludes those exact values; the string forms (prefix, suffix,
 * equals-ignore-case, wildcard) exclude the strings they describe, so any non-string value matches them.
 */
function anythingButMatches(operand: unknown, value: Scalar): boolean {
  if (!isPlainObject(operand)) {
    const excluded = Array.isArray(operand) ? operand : [operand];
    return !excluded.includes(value);
  }
  if (typeof value !== "string") return true;
  const [form, raw] = Object.entries(operand)[0];
  const strings = (Array.isArray(raw) ? raw : [raw]) as string[];
  return !strings.some((s) =>
    form === "prefix"
      ? value.startsWith(s)
      : form === "suffix"
        ? value.endsWith(s)
        : form === "equals-ignore-case"
          ? value.toLowerCase() === s.toLowerCase()
          : wildcardRegExp(s).test(value),
  );
}

function wildcardRegExp(wildcard: string): RegExp {
  let source = "";
  for (let i = 0; i < wildcard.length; i++) {
    const c = wildcard[i];
    if (c === "\\") source += escapeRegExp(wildcard[++i]);
    else if (c === "*") source += "[\\s\\S]*";
    else source += escapeRegExp(c);
  }
  return new RegExp(`^${source}$`);
}

function cidrContains(cidr: string, address: string): boolean {
  const block = parseCidr(cidr);
  const family = isIP(address);
  if (!block || family === 0) return false;
  const type = family === 4 ? "ipv4" : "ipv6";
  if (type !== block.type) return false;
  const list = new BlockList();
  list.addSubnet(block.network, block.prefix, block.type);
  return list.check(address, type);
}

function parseCidr(cidr: string): { network: string; prefix: number; type: "ipv4" | "ipv6" } | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (!match) return undefined;
  const family = isIP(match[1]);
  const prefix = Number(match[2]);
  if (family === 4 && prefix <= 32) return { network: match[1], prefix, type: "ipv4" };
  if (family === 6 && prefix <= 128) return { network: match[1], prefix, type: "ipv6" };
  return undefined;
}

/** The scalar values at a leaf: every scalar of an array (nested arrays included), objects ignored. */
function leafValues(field: unknown): Scalar[] {
  if (field === undefined) return [];
  if (Array.isArray(field)) return flatten(field).filter(isScalar);
  return isScalar(field) ? [field] : [];
}

function flatten(values: unknown[]): unknown[] {
  return values.flatMap((v) => (Array.isArray(v) ? flatten(v) : [v]));
}

function isScalar(value: unknown): value is Scalar {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return `the array ${JSON.stringify(value)}`;
  return `${value === null ? "null" : typeof value} ${JSON.stringify(value)}`;
}
