/**
 * Scheduled notifications: the schedule group the notification service creates one-time schedules in,
 * the role the Scheduler runs them as (allowed to invoke the scheduled sender and to reach the DLQ,
 * nothing else), the DLQ for fires the sender never took, the scheduled sender, and
 * `DELETE /notifications/{eventId}` with its function. Nothing polls: each schedule fires once and is
 * deleted by the Scheduler (ActionAfterCompletion DELETE), or by a cancel before.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { CancelApiEvent } from "../runtime/cancelApi";
import type { HttpResult } from "../runtime/contracts";
import type { ScheduledFire } from "../runtime/scheduler";
import { cancelFunction, type ProducerSettings, scheduledSenderFunction, type StatusSettings } from "../runtime/system";
import { checkAuthorization, childOf, type HttpApiRef, nodesOf, setNodes, type TidingsComponentOptions, type Transform } from "./common";
import { type Bindings, describedFunction } from "./described";
import { DlqAlarm, type DlqAlarmTransform } from "./DlqAlarm";
import type { InlineFunction, InlineFunctionTransform } from "./InlineFunction";

export interface ScheduledNotificationsArgs {
  /** The producer API the cancel route is added to. */
  api: HttpApiRef;
  /** `AWS_IAM` or `JWT`, as the API's other producer routes. */
  authorizationType: string;
  authorizerId?: pulumi.Input<string>;
  /** JWT: the scope of the send routes (`tidings:auth.scopes.send`). */
  authorizationScopes?: string[];
  /** What the notification service is built from: the scheduled sender runs the same pipeline. */
  producer: ProducerSettings;
  /** The scope each producer route needs, checked again by the cancel function. */
  status: StatusSettings;
  /** The pipeline's resources (tables, templates, bus, key, secrets), as the service is given them. */
  bindings: Bindings;
  kmsKeyArn: pulumi.Input<string>;
  logRetentionDays?: number;
  /** Where the DLQ's alarm goes. @default no alarm */
  alertsTopicArn?: pulumi.Input<string>;
}

export interface ScheduledNotificationsTransform {
  group?: Transform<aws.scheduler.ScheduleGroupArgs>;
  role?: Transform<aws.iam.RoleArgs>;
  deadLetterQueue?: Transform<aws.sqs.QueueArgs>;
  route?: Transform<aws.apigatewayv2.RouteArgs>;
  integration?: Transform<aws.apigatewayv2.IntegrationArgs>;
  permission?: Transform<aws.lambda.PermissionArgs>;
  sender?: InlineFunctionTransform;
  cancel?: InlineFunctionTransform;
  alarm?: DlqAlarmTransform;
}

interface Nodes {
  sender: InlineFunction<ScheduledFire, { outcome: string }>;
  cancel: InlineFunction<CancelApiEvent, HttpResult>;
}

export class ScheduledNotifications extends pulumi.ComponentResource {
  readonly group: aws.scheduler.ScheduleGroup;
  /** The role each schedule runs as. */
  readonly role: aws.iam.Role;
  /** Fires the scheduled sender never took, after the Scheduler's retries. */
  readonly deadLetterQueue: aws.sqs.Queue;
  readonly route: aws.apigatewayv2.Route;
  /** What the notification service needs to create schedules: add to its bindings. */
  readonly serviceBindings: Bindings;

  get sender(): Nodes["sender"] {
    return nodesOf<Nodes>(this).sender;
  }

  get cancel(): Nodes["cancel"] {
    return nodesOf<Nodes>(this).cancel;
  }

  constructor(name: string, args: ScheduledNotificationsArgs, opts?: TidingsComponentOptions<ScheduledNotificationsTransform>) {
    super("tidings:index:ScheduledNotifications", name, {}, opts);
    checkAuthorization("ScheduledNotifications", args.authorizationType, args.authorizerId);
    const transform = opts?.transform ?? {};
    const withTransform = childOf(this);
    const caller = aws.getCallerIdentityOutput({}, { parent: this });
    const region = aws.getRegionOutput({}, { parent: this }).region;

    this.group = new aws.scheduler.ScheduleGroup(...withTransform(transform.group, `${name}-group`, {}));
    // Its schedules' ARNs: arn:aws:scheduler:<region>:<account>:schedule/<group>/<name>.
    const schedules = this.group.arn.apply((arn) => arn.replace(":schedule-group/", ":schedule/"));
    this.deadLetterQueue = new aws.sqs.Queue(
      ...withTransform(transform.deadLetterQueue, `${name}-dlq`, {
        kmsMasterKeyId: args.kmsKeyArn,
        messageRetentionSeconds: 1_209_600,
      }),
    );

    const sender = describedFunction(
      `${name}-sender`,
      scheduledSenderFunction(args.producer),
      args.bindings,
      { kmsKeyArn: args.kmsKeyArn, logRetentionDays: args.logRetentionDays },
      { parent: this, transform: transform.sender },
    );
    this.role = new aws.iam.Role(
      ...withTransform(transform.role, `${name}-role`, {
        description: "Tidings scheduled notifications: the Scheduler invokes the scheduled sender",
        assumeRolePolicy: caller.accountId.apply((account) =>
          JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              {
                Effect: "Allow",
                Principal: { Service: "scheduler.amazonaws.com" },
                Action: "sts:AssumeRole",
                // Only this account's schedules (confused deputy).
                Condition: { StringEquals: { "aws:SourceAccount": account } },
              },
            ],
          }),
        ),
        inlinePolicies: [
          {
            name: "invoke-sender",
            policy: pulumi.all([sender.function.arn, this.deadLetterQueue.arn, args.kmsKeyArn, region]).apply(([fn, dlq, key, at]) =>
              JSON.stringify({
                Version: "2012-10-17",
                Statement: [
                  { Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: [fn] },
                  { Effect: "Allow", Action: ["sqs:SendMessage"], Resource: [dlq] },
                  // The DLQ is encrypted with the stack key: through SQS only.
                  {
                    Effect: "Allow",
                    Action: ["kms:GenerateDataKey", "kms:Decrypt"],
                    Resource: [key],
                    Condition: { StringEquals: { "kms:ViaService": `sqs.${at}.amazonaws.com` } },
                  },
                ],
              }),
            ),
          },
        ],
      }),
    );
    this.serviceBindings = {
      resources: { schedules: { id: this.group.name, arn: schedules }, schedulerRole: { id: this.role.arn, arn: this.role.arn } },
      values: { scheduledSender: sender.function.arn, schedulesDeadLetter: this.deadLetterQueue.arn },
    };

    const cancel = describedFunction(
      `${name}-cancel`,
      cancelFunction(args.status),
      {
        resources: {
          log: args.bindings.resources.log!,
          key: args.bindings.resources.key!,
          schedules: this.serviceBindings.resources.schedules,
        },
      },
      { kmsKeyArn: args.kmsKeyArn, logRetentionDays: args.logRetentionDays },
      { parent: this, transform: transform.cancel },
    );
    setNodes<Nodes>(this, { sender, cancel });
    const integration = new aws.apigatewayv2.Integration(
      ...withTransform(transform.integration, `${name}-cancel-integration`, {
        apiId: args.api.id,
        integrationType: "AWS_PROXY",
        integrationMethod: "POST",
        integrationUri: cancel.function.invokeArn,
        payloadFormatVersion: "2.0",
      }),
    );
    this.route = new aws.apigatewayv2.Route(
      ...withTransform(transform.route, `${name}-cancel-route`, {
        apiId: args.api.id,
        routeKey: "DELETE /notifications/{eventId}",
        target: pulumi.interpolate`integrations/${integration.id}`,
        authorizationType: args.authorizationType,
        authorizerId: args.authorizerId,
        authorizationScopes: args.authorizationType === "JWT" ? args.authorizationScopes : undefined,
      }),
    );
    new aws.lambda.Permission(
      ...withTransform(transform.permission, `${name}-cancel-invoke`, {
        action: "lambda:InvokeFunction",
        function: cancel.function.name,
        principal: "apigateway.amazonaws.com",
        sourceArn: pulumi.interpolate`${args.api.executionArn}/*/DELETE/notifications/*`,
      }),
    );
    if (args.alertsTopicArn !== undefined) {
      new DlqAlarm(
        `${name}-dlq-alarm`,
        {
          queue: this.deadLetterQueue,
          alertsTopicArn: args.alertsTopicArn,
          description:
            "Tidings scheduled notifications: a schedule's fire never reached the scheduled sender. Read the sender's log group.",
        },
        { parent: this, transform: transform.alarm },
      );
    }
    this.registerOutputs({ groupName: this.group.name, deadLetterQueueArn: this.deadLetterQueue.arn });
  }
}
