/**
 * Mobile push through SNS platform applications (APNs, FCM). Per device token: CreatePlatformEndpoint
 * (idempotent: the same token and attributes return the existing endpoint), then Publish to it with
 * a per-platform JSON message. The delivery counts as sent when at least one device got it; a disabled
 * endpoint (uninstalled app, expired token) is a permanent failure for that token only.
 */
import { CreatePlatformEndpointCommand, PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import type { ChannelDelivery, DeviceToken, Provider, ProviderResult } from "../contracts";
import { classifyError } from "./errors";

export interface SnsPushProviderDeps {
  sns: SNSClient;
  platformApplicationArns: { apns?: string; fcm?: string };
  /**
   * Called for a token SNS reports disabled (uninstalled app, expired token) or invalid, so it leaves the
   * user's contact (runtime/devices.ts `remove`). Failures are logged by the caller, never thrown here.
   */
  onInvalidToken?: (userId: string, token: string) => Promise<unknown>;
}

/** SNS error names that mean the token itself is unusable. */
const INVALID_TOKEN_ERRORS = ["EndpointDisabledException", "EndpointDisabled", "InvalidParameterException", "InvalidParameter"];

/** The `MessageStructure: "json"` body: one payload per SNS platform key. */
export function pushMessage(delivery: ChannelDelivery): string {
  const title = delivery.content.subject ?? delivery.type;
  const body = delivery.content.text;
  const data = { eventId: delivery.eventId, callback: delivery.callback, progress: delivery.progress };
  const apns = JSON.stringify({ aps: { alert: { title, body } }, ...data });
  return JSON.stringify({
    default: body,
    APNS: apns,
    APNS_SANDBOX: apns,
    GCM: JSON.stringify({ notification: { title, body }, data: stringValues(data) }),
  });
}

/** FCM data values must be strings. */
function stringValues(data: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(data)) if (value !== undefined) out[key] = String(value);
  return out;
}

export function makeSnsPushProvider(deps: SnsPushProviderDeps): Provider {
  async function forget(userId: string, device: DeviceToken) {
    await deps.onInvalidToken?.(userId, device.token).catch(() => undefined);
  }

  async function sendToDevice(userId: string, device: DeviceToken, message: string): Promise<ProviderResult> {
    const applicationArn = deps.platformApplicationArns[device.platform];
    if (!applicationArn) return { outcome: "permanent", reason: `no SNS platform application for ${device.platform}` };
    let endpointArn: string | undefined;
    try {
      const created = await deps.sns.send(
        new CreatePlatformEndpointCommand({ PlatformApplicationArn: applicationArn, Token: device.token }),
      );
      endpointArn = created.EndpointArn;
    } catch (error) {
      if (INVALID_TOKEN_ERRORS.includes((error as { name?: string }).name ?? "")) await forget(userId, device);
      return classifyError(error, `SNS CreatePlatformEndpoint (${device.platform})`);
    }
    if (!endpointArn) return { outcome: "retryable", reason: "SNS CreatePlatformEndpoint returned no endpoint" };
    try {
      const published = await deps.sns.send(new PublishCommand({ TargetArn: endpointArn, MessageStructure: "json", Message: message }));
      return { outcome: "sent", providerMessageId: published.MessageId };
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name === "EndpointDisabledException" || name === "EndpointDisabled") {
        await forget(userId, device);
        return { outcome: "permanent", reason: `${device.platform} endpoint disabled (token no longer valid)` };
      }
      return classifyError(error, `SNS Publish (${device.platform})`);
    }
  }

  return {
    name: "sns-push",
    async send(delivery: ChannelDelivery): Promise<ProviderResult> {
      const devices = delivery.address.deviceTokens ?? [];
      if (devices.length === 0) return { outcome: "permanent", reason: "no device tokens for this user" };
      const message = pushMessage(delivery);
      const results = await Promise.all(devices.map((device) => sendToDevice(delivery.userId, device, message)));
      const sentIds = results.flatMap((r) => (r.outcome === "sent" ? [r.providerMessageId ?? ""] : []));
      if (sentIds.length > 0) return { outcome: "sent", providerMessageId: sentIds.filter(Boolean).join(",") || undefined };
      const reasons = results.map((r, i) => `${devices[i].platform}#${i + 1}: ${"reason" in r ? r.reason : "sent"}`).join("; ");
      // Another attempt can still reach a device whose failure was retryable.
      return results.some((r) => r.outcome === "retryable")
        ? { outcome: "retryable", reason: reasons }
        : { outcome: "permanent", reason: reasons };
    },
  };
}
