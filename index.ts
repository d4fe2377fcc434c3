/**
 * The Tidings stack: reads and validates the `tidings:` config, composes the components, exports outputs.
 * See README.md for the config keys and stack.ts for the composition.
 */
import { createTidingsStack, readStackConfig } from "./stack";

const tidings = createTidingsStack(readStackConfig());

export const websocketUrl = tidings.outputs.websocketUrl;
export const managementEndpoint = tidings.outputs.managementEndpoint;
export const notificationsEndpoint = tidings.outputs.notificationsEndpoint;
export const userApiUrl = tidings.outputs.userApiUrl;
export const eventBusName = tidings.outputs.eventBusName;
export const alertsTopicArn = tidings.outputs.alertsTopicArn;
export const tables = tidings.outputs.tables;
export const templatesBucket = tidings.outputs.templatesBucket;
export const channels = tidings.outputs.channels;
export const scheduling = tidings.outputs.scheduling;
