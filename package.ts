/**
 * The `tidings` package entry: every component, the default stack's composition, and the public types
 * (stack config, the shapes that cross process boundaries, the provider contract for custom providers).
 * `tidings/testing` has the unit-test helpers; `tidings/runtime/<module>` the handlers' code.
 *
 * @example
 * import { createTidingsStack, readStackConfig, NotificationChannel, snsSmsProvider } from "tidings";
 * const tidings = createTidingsStack({ ...readStackConfig(), addChannels: (shared) => [new NotificationChannel("sms", { ...shared, … })] });
 */
export * from "./components";
export { createTidingsStack, readStackConfig, type SharedChannelArgs, type TidingsStackInputs } from "./stack";
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
} from "./runtime/contracts";
export { DELIVERED_STATUSES, DELIVERY_STATUS, PROVIDER_OUTCOME } from "./runtime/contracts";
