import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { SnsEvent } from "../runtime/emailFeedback";
import { emailFeedbackFunction } from "../runtime/system";
import { childOf, nodesOf, type ResourceRef, setNodes, type TidingsComponentOptions, type Transform } from "./common";
import { describedFunction } from "./described";
import type { InlineFunction, InlineFunctionTransform } from "./InlineFunction";

export interface EmailFeedbackArgs {
  /**
   * The SES configuration set the email channel sends through (its provider's `configurationSet`).
   * @example configurationSetName: "tidings-prod-email"
   */
  configurationSetName: string;
  /** true: this component creates the configuration set; false: it exists, and only gets the event destination. @default true */
  createConfigurationSet?: boolean;
  /** The contacts table: a bounce or complaint is recorded on the contact (a ContactsTable, or its name and ARN). */
  contactsTable: ResourceRef;
  /** The stack's KMS key: the topic and the handler's logs are encrypted with it. */
  kmsKeyArn: pulumi.Input<string>;
  /** @default 14 */
  logRetentionDays?: pulumi.Input<number>;
}

/** The resources of an EmailFeedback a transform can change (pass as the `transform` option). */
export interface EmailFeedbackTransform {
  configurationSet?: Transform<aws.sesv2.ConfigurationSetArgs>;
  topic?: Transform<aws.sns.TopicArgs>;
  eventDestination?: Transform<aws.sesv2.ConfigurationSetEventDestinationArgs>;
  handler?: InlineFunctionTransform;
}

interface EmailFeedbackNodes {
  handler: InlineFunction<SnsEvent, { recorded: number }>;
}

/**
 * SES bounces and complaints: the email channel's configuration set publishes `BOUNCE` and `COMPLAINT`
 * events to an encrypted SNS topic (only SES, for this account's configuration set, may publish to it),
 * and a handler subscribed to it records a permanent bounce or a complaint on the user's contact, so later
 * e-mails to that address end `skipped: suppressed` (runtime/emailFeedback.ts). The handler may update the
 * contacts table, nothing else.
 *
 * @example
 * new EmailFeedback("email-feedback", { configurationSetName: "tidings-prod-email", contactsTable, kmsKeyArn: key.arn });
 */
export class EmailFeedback extends pulumi.ComponentResource {
  readonly topic: aws.sns.Topic;
  readonly configurationSet?: aws.sesv2.ConfigurationSet;
  readonly eventDestination: aws.sesv2.ConfigurationSetEventDestination;
  readonly handlerArn: pulumi.Output<string>;

  /** The function that records bounces and complaints (TypeScript only). */
  get handler(): InlineFunction<SnsEvent, { recorded: number }> {
    return nodesOf<EmailFeedbackNodes>(this).handler;
  }

  constructor(name: string, args: EmailFeedbackArgs, opts?: TidingsComponentOptions<EmailFeedbackTransform>) {
    super("tidings:index:EmailFeedback", name, {}, opts);
    const withTransform = childOf(this);
    const transform = opts?.transform ?? {};
    const caller = aws.getCallerIdentityOutput({}, { parent: this });
    const region = aws.getRegionOutput({}, { parent: this }).region;
    const configurationSetArn = pulumi.interpolate`arn:aws:ses:${region}:${caller.accountId}:configuration-set/${args.configurationSetName}`;

    this.configurationSet =
      args.createConfigurationSet === false
        ? undefined
        : new aws.sesv2.ConfigurationSet(
            ...withTransform(transform.configurationSet, `${name}-configuration-set`, { configurationSetName: args.configurationSetName }),
          );
    this.topic = new aws.sns.Topic(...withTransform(transform.topic, `${name}-topic`, { kmsMasterKeyId: args.kmsKeyArn }));
    const topicPolicy = new aws.sns.TopicPolicy(
      `${name}-topic-policy`,
      {
        arn: this.topic.arn,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "SesPublishesThisConfigurationSetsEvents",
              Effect: "Allow",
              Principal: { Service: "ses.amazonaws.com" },
              Action: "sns:Publish",
              Resource: this.topic.arn,
              Condition: { StringEquals: { "aws:SourceAccount": caller.accountId }, ArnLike: { "aws:SourceArn": configurationSetArn } },
            },
          ],
        }),
      },
      { parent: this },
    );
    this.eventDestination = new aws.sesv2.ConfigurationSetEventDestination(
      ...withTransform(
        transform.eventDestination,
        `${name}-destination`,
        {
          configurationSetName: this.configurationSet?.configurationSetName ?? args.configurationSetName,
          eventDestinationName: "tidings-bounces-and-complaints",
          eventDestination: { enabled: true, matchingEventTypes: ["BOUNCE", "COMPLAINT"], snsDestination: { topicArn: this.topic.arn } },
        },
        { dependsOn: [topicPolicy] },
      ),
    );
    const handler = describedFunction(
      `${name}-handler`,
      emailFeedbackFunction(),
      {
        resources: {
          contacts: { id: args.contactsTable.name, arn: args.contactsTable.arn },
          key: { id: args.kmsKeyArn, arn: args.kmsKeyArn },
        },
      },
      { kmsKeyArn: args.kmsKeyArn, logRetentionDays: args.logRetentionDays },
      { parent: this, transform: transform.handler },
    );
    const permission = new aws.lambda.Permission(
      `${name}-invoke`,
      { action: "lambda:InvokeFunction", function: handler.function.name, principal: "sns.amazonaws.com", sourceArn: this.topic.arn },
      { parent: this },
    );
    new aws.sns.TopicSubscription(
      `${name}-subscription`,
      { topic: this.topic.arn, protocol: "lambda", endpoint: handler.function.arn },
      { parent: this, dependsOn: [permission] },
    );
    setNodes<EmailFeedbackNodes>(this, { handler });
    this.handlerArn = handler.function.arn;
    this.registerOutputs({ handlerArn: this.handlerArn });
  }
}
