/**
 * The components other languages get (`pulumi package add`): the Pulumi analyzer starts here and
 * follows these exports to infer the schema from each component's args and outputs. Every one takes
 * data only (plain `{ name, arn }` references, strings, numbers, booleans, lists and maps of those);
 * transforms are the TypeScript-only `transform` resource option. This is every ComponentResource
 * components/index.ts exports but one, InlineFunction: its handler is TypeScript code (the function
 * it ships), which no other language can pass. The tables extend ComponentResource directly (the
 * analyzer only recognises such classes) and share one implementation, `encryptedTable`.
 * tests/plugin.schema.test.ts checks that the list is complete.
 */
import {
  ChannelAlarms,
  ConnectionsTable,
  ContactsTable,
  Dashboard,
  DlqAlarm,
  EmailFeedback,
  EncryptionKey,
  FeedTable,
  NotificationApi,
  NotificationChannel,
  NotificationLogTable,
  NotificationStatusRoute,
  Operations,
  PolitenessTable,
  Reconciler,
  SettingsTable,
  StatusCallbacks,
  TemplatesBucket,
  Tidings,
  TopicsTable,
  UserApi,
  UserDataRoutes,
  WebSocketApi,
} from "../components";

export {
  ChannelAlarms,
  ConnectionsTable,
  ContactsTable,
  Dashboard,
  DlqAlarm,
  EmailFeedback,
  EncryptionKey,
  FeedTable,
  NotificationApi,
  NotificationChannel,
  NotificationLogTable,
  NotificationStatusRoute,
  Operations,
  PolitenessTable,
  Reconciler,
  SettingsTable,
  StatusCallbacks,
  TemplatesBucket,
  Tidings,
  TopicsTable,
  UserApi,
  UserDataRoutes,
  WebSocketApi,
};

/** The schema's package name: resource types are `tidings:index:<Component>`. */
export const PLUGIN_NAME = "tidings";

export const PLUGIN_COMPONENTS = [
  Tidings,
  NotificationChannel,
  NotificationApi,
  WebSocketApi,
  TemplatesBucket,
  DlqAlarm,
  EncryptionKey,
  ConnectionsTable,
  ContactsTable,
  SettingsTable,
  NotificationLogTable,
  PolitenessTable,
  FeedTable,
  TopicsTable,
  UserApi,
  UserDataRoutes,
  NotificationStatusRoute,
  StatusCallbacks,
  EmailFeedback,
  ChannelAlarms,
  Dashboard,
  Reconciler,
  Operations,
];
