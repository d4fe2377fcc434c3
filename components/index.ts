/**
 * The package entry: every Tidings component, so another stack can compose its own channels
 * (`new NotificationChannel(...)` with its own provider) next to, or instead of, the default stack.
 */
export {
  TidingsError,
  Transform,
  ScopedStatement,
  ResourceRef,
  QueueRef,
  QueueUrlRef,
  NameRef,
  HttpApiRef,
  WebSocketRef,
  PerUserLimit,
  NotificationTypeSettings,
  Throttling,
  TidingsComponentOptions,
  applyTransform,
} from "./common";
export { InlineFunction, InlineFunctionArgs, InlineFunctionTransform, inlineFunctions } from "./InlineFunction";
export { EncryptionKey, EncryptionKeyArgs, EncryptionKeyTransform } from "./EncryptionKey";
export { EncryptedTable, EncryptedTableArgs, EncryptedTableTransform, encryptedTable, tableOf } from "./EncryptedTable";
export { ConnectionsTable } from "./ConnectionsTable";
export { ContactsTable } from "./ContactsTable";
export { SettingsTable } from "./SettingsTable";
export { TopicsTable } from "./TopicsTable";
export { NotificationLogTable } from "./NotificationLogTable";
export { PolitenessTable } from "./PolitenessTable";
export { FeedTable } from "./FeedTable";
export { UserApi, UserApiArgs, UserApiTransform, USER_API_ROUTES } from "./UserApi";
export { UserDataRoutes, UserDataRoutesArgs, UserDataRoutesTransform, RouteAuthorization, USER_DATA_ROUTES } from "./UserDataRoutes";
export { DlqAlarm, DlqAlarmArgs, DlqAlarmTransform } from "./DlqAlarm";
export { WebSocketApi, WebSocketApiArgs, WebSocketApiTransform } from "./WebSocketApi";
export { NotificationChannel, NotificationChannelArgs, NotificationChannelTransform } from "./NotificationChannel";
export { NotificationApi, NotificationApiArgs, NotificationApiTransform } from "./NotificationApi";
export { NotificationStatusRoute, NotificationStatusRouteArgs, NotificationStatusRouteTransform } from "./NotificationStatusRoute";
export { ChannelAlarms, ChannelAlarmsArgs, ChannelAlarmsTransform, AlarmThresholds } from "./ChannelAlarms";
export { Dashboard, DashboardArgs, DashboardChannel, DashboardTransform, dashboardBody } from "./Dashboard";
export { Reconciler, ReconcilerArgs, ReconcilerTransform } from "./Reconciler";
export {
  Operations,
  OperationsArgs,
  OperatedChannel,
  OperationsDashboardSettings,
  OperationsReconcilerSettings,
} from "./Operations";
export { StatusCallbacks, StatusCallbacksArgs, StatusCallbacksTransform } from "./StatusCallbacks";
export { EmailFeedback, EmailFeedbackArgs, EmailFeedbackTransform } from "./EmailFeedback";
export { TemplatesBucket, TemplatesBucketArgs, TemplatesBucketTransform } from "./TemplatesBucket";
export {
  ChannelProvider,
  ProviderContext,
  ProviderSources,
  providerFromConfig,
  SMS_PUBLISH_STATEMENT,
} from "./providers";
export { Tidings, TidingsArgs, TidingsOptions, TidingsChannelSettings, ExtraChannelArgs } from "./Tidings";
export { createTidingsStack, SharedChannelArgs, TidingsStackInputs } from "./compose";
