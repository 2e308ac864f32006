// Public API of admission/ for other folders (the CLI): `kidp webhook serve`, and the
// webhook's own decision functions and what they read, so `kidp validate` computes an
// offline verdict exactly as the online one.
export { mutate } from './mutate.js';
export { validate, type ValidateContext } from './validate.js';
export { MemoryView } from './memory-view.js';
export { PolicyStore } from './policy-store.js';
export { TEAM_LABEL } from './ownership.js';
export { toResponse } from './http.js';
export { webhookConfigurations, CORE_RESOURCES, resourceOfType } from './webhook-config.js';
export type { DecisionRecord } from './decision-log.js';
export { startWebhookServer, type WebhookServer, type WebhookServerOptions } from './server.js';
export { serveWebhook } from './serve.js';
export type { Decision, JsonPatchOperation } from './decision.js';
export type { AdmissionRequest, AdmissionResponse, KubeObject } from './review.js';
