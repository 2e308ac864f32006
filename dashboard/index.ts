// Public API of dashboard/: `kidp dashboard serve` starts it from here.
export { startDashboard, TOKEN_COOKIE, type DashboardOptions, type RunningDashboard } from './server.js';
export { buildModel, snapshots, type ComplianceModel, type Snapshot } from './model.js';
export { ACCESS_TTL_MS, TOKEN_TTL_MS } from './access.js';
export { PortalModel, checksFor, costOf, type TeamCost } from './portal-model.js';
