/**
 * The package entry: every Tidings component, so another stack can compose its own channels
 * (`new NotificationChannel(...)` with its own provider) next to, or instead of, the default stack.
 */
export { TidingsError, Transform, ScopedStatement, ResourceRef, TidingsComponentOptions, applyTransform } from "./common";
export { InlineFunction, InlineFunctionArgs, InlineFunctionTransform, inlineFunctions } from "./InlineFunction";
export { EncryptionKey, EncryptionKeyArgs, EncryptionKeyTransform } from "./EncryptionKey";
export { EncryptedTable, EncryptedTableArgs, EncryptedTableTransform } from "./EncryptedTable";
export { ConnectionsTable } from "./ConnectionsTable";
export { ContactsTable } from "./ContactsTable";
export { SettingsTable } from "./SettingsTable";
export { NotificationLogTable } from "./NotificationLogTable";
export { PolitenessTable } from "./PolitenessTable";
export { DlqAlarm, DlqAlarmArgs, DlqAlarmTransform } from "./DlqAlarm";
export { WebSocketApi, WebSocketApiArgs, WebSocketApiTransform } from "./WebSocketApi";
export { NotificationChannel, NotificationChannelArgs, NotificationChannelTransform } from "./NotificationChannel";
export { NotificationApi, NotificationApiArgs, NotificationApiTransform } from "./NotificationApi";
export { TemplatesBucket, TemplatesBucketArgs, TemplatesBucketTransform } from "./TemplatesBucket";
export {
  ChannelProvider,
  ProviderContext,
  ProviderSources,
  providerFromConfig,
  SMS_PUBLISH_STATEMENT,
} from "./providers";
