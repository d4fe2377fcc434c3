/**
 * IAM policy evaluation for the subset of the policy language the stack writes: Allow and Deny
 * statements with Action/Resource (wildcards `*` and `?`), optional Principal (resource policies), and
 * the condition operators StringEquals, StringLike, ArnEquals, ArnLike, ArnNotEquals, ArnNotLike and
 * their ForAllValues:/ForAnyValue: forms. Written here because the maintained simulator is AGPL; what
 * it does not know it refuses (an unknown operator throws), so a new construct in a policy fails the
 * tests instead of passing unchecked.
 */

export interface Statement {
  Effect?: "Allow" | "Deny";
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  Principal?: "*" | { AWS?: string | string[]; Service?: string | string[] };
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface Policy {
  Statement: Statement[];
}

export interface Request {
  action: string;
  resource: string;
  /** The request's context keys (`kms:ViaService`, `dynamodb:LeadingKeys`, `aws:PrincipalArn`, …). */
  context?: Record<string, string | string[]>;
  /** The caller, for resource policies: a role ARN or a service principal. */
  principal?: { AWS?: string; Service?: string };
}

const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** `*` and `?` as IAM reads them in actions and resources; everything else literal. Actions compare case-insensitively. */
export function globMatches(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${source}$`, ignoreCase ? "i" : "").test(value);
}

function conditionHolds(operator: string, key: string, expected: string[], context: Record<string, string | string[]>): boolean {
  const [qualifier, base] = operator.includes(":") ? operator.split(":") : ["", operator];
  const compare = (a: string, e: string): boolean => {
    switch (base) {
      case "StringEquals":
      case "ArnEquals":
        return a === e;
      case "StringLike":
      case "ArnLike":
        return globMatches(e, a);
      default:
        throw new Error(`iamPolicy: condition operator ${operator} is not evaluated here`);
    }
  };
  const negated = /^(Arn|String)Not/.test(base);
  const positive = negated ? base.replace("Not", "") : base;
  const actual = context[key];
  const values = list(actual);
  const anyOf = (a: string) => expected.some((e) => (negated ? compareWith(positive, a, e) : compare(a, e)));
  function compareWith(op: string, a: string, e: string) {
    return op === "StringEquals" || op === "ArnEquals" ? a === e : globMatches(e, a);
  }
  if (qualifier === "ForAllValues") return values.every((a) => anyOf(a));
  if (qualifier === "ForAnyValue") return values.some((a) => anyOf(a));
  if (actual === undefined) return negated; // A missing key: a Not… condition holds, a positive one does not.
  const matched = values.some((a) => anyOf(a));
  return negated ? !matched : matched;
}

function statementMatches(statement: Statement, request: Request): boolean {
  const actions = list(statement.Action);
  if (actions.length && !actions.some((a) => globMatches(a, request.action, true))) return false;
  if (statement.NotAction && list(statement.NotAction).some((a) => globMatches(a, request.action, true))) return false;
  if (!list(statement.Resource).some((r) => globMatches(r, request.resource))) return false;
  if (statement.Principal !== undefined && statement.Principal !== "*") {
    const aws = list(statement.Principal.AWS);
    const service = list(statement.Principal.Service);
    const caller = request.principal ?? {};
    const accountOf = (arn: string) => arn.split(":")[4];
    const awsMatch = caller.AWS
      ? aws.some(
          (p) => p === caller.AWS || (p.endsWith(":root") && accountOf(p) === accountOf(caller.AWS!)) || p === accountOf(caller.AWS!),
        )
      : false;
    if (!awsMatch && !(caller.Service && service.includes(caller.Service))) return false;
  }
  for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
    for (const [key, expected] of Object.entries(keys)) {
      if (!conditionHolds(operator, key, list(expected), request.context ?? {})) return false;
    }
  }
  return true;
}

export type Decision = "allow" | "explicit-deny" | "implicit-deny";

/** One policy's answer to a request: an explicit Deny wins over any Allow. */
export function evaluate(policies: Policy[], request: Request): Decision {
  const statements = policies.flatMap((p) => p.Statement);
  if (statements.some((s) => s.Effect === "Deny" && statementMatches(s, request))) return "explicit-deny";
  return statements.some((s) => (s.Effect ?? "Allow") === "Allow" && statementMatches(s, request)) ? "allow" : "implicit-deny";
}

/** Every (action, resource) an identity policy grants, one pair per action and resource of each Allow statement. */
export function grants(policy: Policy): { action: string; resource: string }[] {
  return policy.Statement.filter((s) => (s.Effect ?? "Allow") === "Allow").flatMap((s) =>
    list(s.Action).flatMap((action) => list(s.Resource).map((resource) => ({ action, resource }))),
  );
}
