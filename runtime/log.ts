/**
 * One structured JSON line per decision (eventId, userId, channel, outcome, reason), so CloudWatch
 * Logs Insights and the local console read the same thing. Secrets (webhook URLs, tokens) are never
 * passed here.
 */
export interface Decision {
  component: string;
  outcome: string;
  eventId?: string;
  userId?: string;
  channel?: string;
  reason?: string;
  [field: string]: unknown;
}

export type DecisionLogger = (decision: Decision) => void;

/** Default logger: a JSON line on stdout. Local mode injects a coloured one. */
export function logDecision(decision: Decision): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), ...decision }));
}
