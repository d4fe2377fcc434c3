/**
 * What wakes the scheduled sender at a notification's time: a one-time EventBridge Scheduler schedule
 * per scheduled notification, deleted by the Scheduler once it fired, or by a cancel before. The local
 * mode serves the same two Scheduler calls (local/scheduler.ts), so this code runs there as deployed.
 */
import { createHash } from "node:crypto";
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  type SchedulerClient,
} from "@aws-sdk/client-scheduler";

/** What the Scheduler hands the scheduled sender: the notification item's key. */
export interface ScheduledFire {
  eventId: string;
}

/**
 * The schedule's name for a notification item's key: at most 64 characters of [0-9A-Za-z_.-] (an eventId
 * may be 128, and a producer's own key longer), the same every time so a retry finds it.
 */
export function scheduleName(notificationId: string): string {
  return `n-${createHash("sha256").update(notificationId).digest("base64url")}`;
}

/** What wakes the scheduled sender at a notification's time. */
export interface Scheduler {
  /** Creates the one-time schedule of `notificationId` (again: no error). */
  create(notificationId: string, sendAt: string): Promise<void>;
  /** Deletes it (gone already: no error). */
  delete(notificationId: string): Promise<void>;
}

export interface EventBridgeSchedulerDeps {
  client: SchedulerClient;
  /** The schedule group all of the stack's scheduled notifications live in. */
  group: string;
  /** The role the Scheduler assumes to invoke the sender and reach the DLQ. */
  roleArn: string;
  /** The scheduled sender's function ARN. */
  targetArn: string;
  /** Where a fire the sender never took goes after the retries. */
  deadLetterArn: string;
}

/** The Scheduler API's calls for one-time schedules that delete themselves after they fire. */
export function makeEventBridgeScheduler(deps: EventBridgeSchedulerDeps): Scheduler {
  return {
    async create(notificationId, sendAt) {
      const fire: ScheduledFire = { eventId: notificationId };
      try {
        await deps.client.send(
          new CreateScheduleCommand({
            Name: scheduleName(notificationId),
            GroupName: deps.group,
            // at() reads a UTC time to the second: a fraction rounds up, never earlier than asked.
            ScheduleExpression: `at(${new Date(Math.ceil(Date.parse(sendAt) / 1000) * 1000).toISOString().slice(0, 19)})`,
            ScheduleExpressionTimezone: "UTC",
            FlexibleTimeWindow: { Mode: "OFF" },
            ActionAfterCompletion: "DELETE",
            Target: {
              Arn: deps.targetArn,
              RoleArn: deps.roleArn,
              Input: JSON.stringify(fire),
              DeadLetterConfig: { Arn: deps.deadLetterArn },
              // Scheduler's own limits: a day of retries with backoff before the DLQ.
              RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 },
            },
          }),
        );
      } catch (error) {
        if (!(error instanceof ConflictException) && (error as Error).name !== "ConflictException") throw error;
      }
    },
    async delete(notificationId) {
      try {
        await deps.client.send(new DeleteScheduleCommand({ Name: scheduleName(notificationId), GroupName: deps.group }));
      } catch (error) {
        if (!(error instanceof ResourceNotFoundException) && (error as Error).name !== "ResourceNotFoundException") throw error;
      }
    },
  };
}
