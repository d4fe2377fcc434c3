/**
 * The components other languages get (`pulumi package add`): the Pulumi analyzer starts here and
 * follows these exports to infer the schema from each component's args and outputs. Every one takes
 * data only. Left out: InlineFunction (its handler is TypeScript code), and the tables (subclasses of
 * EncryptedTable, which Pulumi's analyzer does not recognise as components: it looks for classes that
 * extend ComponentResource directly). Other languages get the tables through `Tidings`, or pass their
 * own as `{ name, arn }`.
 */
import { DlqAlarm, EncryptionKey, NotificationApi, NotificationChannel, TemplatesBucket, Tidings, WebSocketApi } from "../components";

export { DlqAlarm, EncryptionKey, NotificationApi, NotificationChannel, TemplatesBucket, Tidings, WebSocketApi };

/** The schema's package name: resource types are `tidings:index:<Component>`. */
export const PLUGIN_NAME = "tidings";

export const PLUGIN_COMPONENTS = [Tidings, NotificationChannel, NotificationApi, WebSocketApi, TemplatesBucket, DlqAlarm, EncryptionKey];
