/**
 * The package entry: every Tidings component, so another stack can compose its own channels
 * (`new NotificationChannel(...)` with its own provider) next to, or instead of, the default stack.
 */
export { TidingsError, Transform, ScopedStatement } from "./common";
export { InlineFunction, InlineFunctionArgs, inlineFunctions } from "./InlineFunction";
export { EncryptionKey, EncryptionKeyArgs } from "./EncryptionKey";
export { EncryptedTable, EncryptedTableArgs } from "./EncryptedTable";
export { ConnectionsTable } from "./ConnectionsTable";
export { ContactsTable } from "./ContactsTable";
export { SettingsTable } from "./SettingsTable";
export { NotificationLogTable } from "./NotificationLogTable";
export { PolitenessTable } from "./PolitenessTable";
export { FeedTable } from "./FeedTable";
export { UserApi, UserApiArgs, USER_API_ROUTES } from "./UserApi";
export { UserDataRoutes, UserDataRoutesArgs, USER_DATA_ROUTES } from "./UserDataRoutes";
export { DlqAlarm, DlqAlarmArgs } from "./DlqAlarm";
export { WebSocketApi, WebSocketApiArgs } from "./WebSocketApi";
export { NotificationChannel, NotificationChannelArgs } from "./NotificationChannel";
export { NotificationApi, NotificationApiArgs } from "./NotificationApi";
export { NotificationStatusRoute, NotificationStatusRouteArgs } from "./NotificationStatusRoute";
export { ChannelAlarms, ChannelAlarmsArgs, AlarmThresholds } from "./ChannelAlarms";
export { Dashboard, DashboardArgs, DashboardChannel, dashboardBody } from "./Dashboard";
export { Reconciler, ReconcilerArgs } from "./Reconciler";
export { Operations, OperationsArgs, OperatedChannel } from "./Operations";
export { StatusCallbacks, StatusCallbacksArgs } from "./StatusCallbacks";
export { TemplatesBucket, TemplatesBucketArgs } from "./TemplatesBucket";
export {
  ProviderSpec,
  ProviderDeps,
  providerForChannel,
  sesProvider,
  snsSmsProvider,
  slackWebhookProvider,
  snsPushProvider,
  websocketProvider,
} from "./providers";
