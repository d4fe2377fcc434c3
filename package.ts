/**
 * The `tidings` package entry: every component, the default stack's composition, and the public types
 * (stack config, the shapes that cross process boundaries, the provider contract for custom providers).
 * `tidings/testing` has the unit-test helpers; `tidings/runtime/<module>` the handlers' code.
 *
 * @example
 * import { createTidingsStack, readStackConfig, NotificationChannel } from "tidings";
 * const tidings = createTidingsStack({
 *   ...readStackConfig(),
 *   addChannels: (shared) => [new NotificationChannel("sms", { ...shared, channel: "sms", provider: { type: "sns-sms" } })],
 * });
 */
export * from "./components";
export { readStackConfig } from "./stack";
export type { ChannelConfig, NotificationTypeConfig, TidingsConfig } from "./runtime/config";
export { parseTidingsConfig, TidingsConfigError } from "./runtime/config";
export type {
  ChannelAddress,
  ChannelDelivery,
  DeliveryEvent,
  DeliveryStatus,
  LogEntry,
  NotificationFrame,
  NotificationRequest,
  Provider,
  ProviderResult,
  RenderedContent,
  SqsBatchResponse,
  SqsEvent,
  SqsRecord,
} from "./runtime/contracts";
export type { LambdaProviderRequest } from "./runtime/providers/lambda";
export { DELIVERED_STATUSES, DELIVERY_STATUS, detailTypeFor, EVENT_SOURCE, PROVIDER_OUTCOME } from "./runtime/contracts";

// Loaded by `pulumi package add` (Pulumi's run-plugin) rather than by a program: serve the components to
// other languages. The plugin imports the components, never the other way round (plugin/host.ts).
if (require.main?.filename.split("\\").join("/").includes("/cmd/run-plugin/")) {
  void require("./plugin/host").servePlugin();
}
