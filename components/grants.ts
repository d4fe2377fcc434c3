/**
 * IAM-mode grants: the policy a producer's role needs to call exactly the producer routes of its job
 * (`execute-api:Invoke` on those route ARNs, nothing else), and for `grantSend` with `types`, the record
 * of the types the role may send (IAM cannot see a request's body, so the notification service reads
 * the record: runtime/producerGrants.ts).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { producerGrantKey, iamPrincipalOf } from "../runtime/producers";
import { PRODUCER_ROUTES, type ProducerScope } from "../runtime/system";
import { policyDocument, TidingsError } from "./common";

/** What a grant names: the producer API (its execute-api ARN and stage), and the bucket records go to. */
export interface GrantTarget {
  executionArn: pulumi.Input<string>;
  stageName: pulumi.Input<string>;
  templatesBucket: pulumi.Input<string>;
  parent: pulumi.Resource;
}

/** `METHOD /a/{b}` → the route's execute-api resource path, `METHOD/a/*`. */
const routePath = (route: string) => route.replace(" ", "").replace(/\{[^}]+\}/g, "*");

/** The execute-api ARNs of the producer routes that need `scope`. */
export function routeArns(target: GrantTarget, scope: ProducerScope): pulumi.Output<string[]> {
  const routes = PRODUCER_ROUTES.filter((r) => r.scope === scope).map((r) => r.route);
  return pulumi
    .all([target.executionArn, target.stageName])
    .apply(([executionArn, stage]) => routes.map((route) => `${executionArn}/${stage}/${routePath(route)}`));
}

/** The resource name of a role's grant: its logical name, which Pulumi keeps on the resource. */
function roleName(role: aws.iam.Role): string {
  const name = (role as unknown as { __name?: string }).__name;
  if (!name) throw new TidingsError("grant: pass the aws.iam.Role resource itself (its logical name names the grant).");
  return name;
}

/** An inline policy on `role` allowing `execute-api:Invoke` on the routes of `scopes`. */
export function grantRoutes(target: GrantTarget, role: aws.iam.Role, purpose: string, scopes: ProducerScope[]): aws.iam.RolePolicy {
  const resources = pulumi.all(scopes.map((scope) => routeArns(target, scope))).apply((lists) => lists.flat());
  return new aws.iam.RolePolicy(
    `${roleName(role)}-tidings-${purpose}`,
    {
      role: role.name,
      policy: policyDocument([{ Action: ["execute-api:Invoke"], Resource: resources }]),
    },
    { parent: target.parent },
  );
}

/**
 * Records the types `role` may send, where the notification service reads them: the producer is the
 * role's ARN without its path (what an assumed-role session names).
 */
export function recordTypes(target: GrantTarget, role: aws.iam.Role, types: string[]): aws.s3.BucketObjectv2 {
  if (types.length === 0) throw new TidingsError("grantSend: types, when given, must name at least one type or prefix.*");
  const producer = pulumi.all([role.arn, role.name]).apply(([arn, name]) => iamPrincipalOf(arn.replace(/:role\/.*$/, `:role/${name}`)));
  return new aws.s3.BucketObjectv2(
    `${roleName(role)}-tidings-types`,
    {
      bucket: target.templatesBucket,
      key: producer.apply(producerGrantKey),
      content: JSON.stringify({ types }),
      contentType: "application/json",
    },
    { parent: target.parent },
  );
}

/** The scopes each grant covers: its routes are those the one route table gives them. */
export const GRANTS = {
  send: ["send"],
  contacts: ["contactsWrite", "contactsRead"],
  erase: ["erase"],
} satisfies Record<string, ProducerScope[]>;
