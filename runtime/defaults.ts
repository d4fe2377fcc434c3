/**
 * Every default of a Tidings setting, written once: the config schema (runtime/config.ts) fills them
 * in, and the components (whose args may leave a setting out) and the runtime factories read them from
 * here. A module of its own, with no imports, so a Lambda bundle that reads a default ships nothing else.
 */
export const DEFAULTS = {
  stage: "dev",
  producerAuth: "iam",
  auth: {
    issuer: "tidings",
    audience: "tidings",
    scopes: {
      send: "notifications:send",
      contactsWrite: "contacts:write",
      contactsRead: "contacts:read",
      erase: "users:erase",
      topicsWrite: "topics:write",
    },
    keyCacheSeconds: 300,
  },
  websocket: { maxConnectionsPerUser: 10, chat: { enabled: false, scope: "chat:send", perMinute: 20 } },
  deletionProtection: true,
  apiGatewayCloudWatchRole: false,
  logRetentionDays: 14,
  connectionTtlHours: 24,
  logTtlDays: 90,
  feedTtlDays: 90,
  maxDevicesPerUser: 5,
  tracking: { linkTtlDays: 30, openPixel: false },
  channel: { enabled: true, failoverAfter: 3, maxConcurrency: 2, batchSize: 10, maxReceiveCount: 5, workerTimeoutSeconds: 30 },
  type: { defaultOptIn: true, critical: false },
  dashboard: { enabled: true },
  alarms: { queueAgeSeconds: 900, workerErrors: 1, workerThrottles: 1, ruleFailedInvocations: 1 },
  reconciler: { enabled: true, schedule: "rate(5 minutes)", stuckAfterMinutes: 15, maxReputs: 3, lookBackHours: 24 },
  statusCallbacks: { maxReceiveCount: 8 },
  scheduling: { enabled: true },
  topics: { enabled: true },
  emailFeedback: { enabled: true },
} as const;
