// The Pulumi program: the stack's config composes Tidings, and Microsoft Teams is added in code as one
// more NotificationChannel, with a per-user webhook address and a provider of our own.
import * as path from "node:path";
import { createTidingsStack, NotificationChannel, readStackConfig } from "tidings";
import { teamsProvider } from "./teams";

export const tidings = createTidingsStack({
  ...readStackConfig(),
  extraTemplatesDirs: [path.join(__dirname, "templates")],
  addChannels: (shared) => [
    new NotificationChannel("teams", {
      ...shared,
      channel: "teams",
      provider: teamsProvider,
      // Each user's own incoming webhook: checked by the contacts API, masked when read back.
      address: { webhookUrl: { type: "https-url", hosts: ["*.webhook.office.com"], secret: true } },
      ratePerSecond: 4,
    }),
  ],
});

export const notificationsEndpoint = tidings.outputs.notificationsEndpoint;
export const userApiUrl = tidings.outputs.userApiUrl;
