// Public API of dashboard/: `kidp dashboard serve` starts it from here.
export { startDashboard, type DashboardOptions, type RunningDashboard } from './server.js';
export { buildModel, snapshots, type ComplianceModel, type Snapshot } from './model.js';
