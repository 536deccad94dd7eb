// Shapes of the /api/v1 answers the app reads, after the server's OpenAPI document
// (/api/v1/openapi.json) and the contracts for the palette and validation routes.

export type Role = 'owner' | 'editor' | 'viewer';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  details?: Record<string, unknown>;
  errors?: { location: string; message: string }[];
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
}

export interface WorkspaceRef {
  id: string;
  slug: string;
  name: string;
  role: Role;
}

export interface Me {
  user_id: string;
  email: string;
  method: string;
  workspaces: WorkspaceRef[];
}

export interface Account {
  user_id: string;
  email: string;
  method: string;
  totp_enabled: boolean;
  local: boolean;
}

export interface RetryPolicy {
  max_attempts?: number | null;
  initial_interval?: number | null;
  backoff_coefficient?: number | null;
  max_interval?: number | null;
  non_retryable_errors?: string[];
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface WorkflowNode {
  id: string;
  type: string;
  name?: string;
  config?: JsonObject;
  input?: JsonObject;
  operation?: string | null;
  version?: string | null;
  secrets?: string[];
  retry?: RetryPolicy | null;
  timeout?: number | null;
  position?: { x: number; y: number } | null;
}

export interface WorkflowEdge {
  source: string;
  target: string;
  handle?: string | null;
}

export type Trigger =
  | { type: 'manual' }
  | { type: 'cron'; cron: string; timezone?: string; catch_up?: 'skip' | 'once' | 'all'; input?: JsonObject }
  | { type: 'webhook'; connector?: string | null }
  | { type: 'signal'; signal: string };

export interface WorkflowSettings {
  retry?: RetryPolicy;
  error_workflow?: string | null;
  timeout?: number | null;
  max_steps?: number;
}

/** A sticky note lives in the workflow's description block so the stored graph stays the server's format. */
export interface Workflow {
  name: string;
  description?: string;
  nodes: WorkflowNode[];
  edges?: WorkflowEdge[];
  triggers?: Trigger[];
  settings?: WorkflowSettings;
}

export interface WorkflowSaved {
  id: string;
  name: string;
  version: number;
  created: boolean;
  plugin_versions: Record<string, string>;
}

export interface WorkflowDetail extends WorkflowSaved {
  workflow: Workflow;
}

export interface LastRun {
  execution_id: string;
  status: ExecutionStatus;
  started_at: string;
}

export interface WorkflowSummary {
  id: string;
  name: string;
  description: string | null;
  version: number;
  is_active: boolean;
  created_at: string;
  updated_at: string;
  last_run?: LastRun | null;
}

export interface VersionSummary {
  version: number;
  digest: string;
  plugin_versions: Record<string, string>;
  created_at: string;
}

export type ExecutionStatus = 'queued' | 'running' | 'waiting' | 'paused' | 'completed' | 'failed' | 'cancelled';
export type StepStatus = 'running' | 'completed' | 'failed' | 'waiting' | 'cancelled';

export interface Execution {
  id: string;
  workflow_id: string;
  workflow_version: number;
  status: ExecutionStatus;
  trigger: string;
  input: JsonObject | null;
  output: JsonObject | null;
  error_type: string | null;
  error_message: string | null;
  error_node: string | null;
  current_node_id: string | null;
  started_at: string;
  completed_at: string | null;
  waiting_for: { type?: string; kind?: string; node?: string; [key: string]: unknown } | null;
  replay_of: string | null;
  retry_count: number;
  steps_taken: number;
}

export interface Step {
  id: number;
  execution_id: string;
  node_id: string;
  node_type: string;
  iteration: string;
  attempt: number;
  status: StepStatus;
  input: JsonValue;
  output: JsonValue;
  error_type: string | null;
  error_message: string | null;
  retryable: boolean | null;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  worker: string | null;
  replayed_from: string | null;
}

export interface ExecutionDetail {
  execution: Execution;
  steps: Step[];
}

export interface Handle {
  id: string;
  label?: string;
}

export interface NodeType {
  type: string;
  plugin: string;
  capability: string;
  version: string;
  versions: string[];
  builtin: boolean;
  kind: string;
  category: string;
  title: string;
  description: string;
  icon: string;
  config_schema: JsonObject;
  operations: Record<string, { description?: string; input_schema?: JsonObject; output_schema?: JsonObject }>;
  default_operation: string | null;
  handles: {
    inputs: Handle[];
    outputs: Handle[];
    dynamic?: boolean;
    dynamic_outputs: { from_config: string; key: string; fallback?: string | null; fallback_from_config?: string | null } | null;
    error_output: boolean;
  };
  secrets: string[];
  trigger_schema: JsonObject | null;
}

export interface ValidationProblem {
  node_id: string | null;
  pointer: string;
  message: string;
  code: string;
  severity: 'error' | 'warning';
}

export interface ValidationResult {
  valid: boolean;
  problems: ValidationProblem[];
}

export interface PluginInfo {
  name: string;
  version: string;
  dist: string;
  summary: string;
  enabled: boolean;
  builtin: boolean;
  capabilities: string[];
  process: Record<string, unknown>;
}

export interface PluginDetail {
  name: string;
  versions: (PluginInfo & { installedAt?: string; wheelSha256?: string; grantDescribed?: string[] })[];
  capabilities: { ref: string; plugin: string; version: string; name: string; kind: string; description?: string }[];
  sandbox?: string;
}

export interface Connector {
  slug: string;
  plugin: string;
  version: string;
  description: string;
  auth_type: string;
  scopes: string[];
  authorize_url: string | null;
  logo: string;
  actions: string[];
  webhook: Record<string, unknown> | null;
}

export interface Credential {
  id: string;
  name: string;
  kind: string;
  meta: Record<string, unknown>;
  masked: string;
  created_at: string;
  updated_at: string;
}

export interface Member {
  user_id: string;
  email: string;
  display_name: string;
  role: Role;
  totp_enabled: boolean;
}

export interface ApiKey {
  id: string;
  name: string;
  workspace_id: string;
  prefix: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  key?: string;
}

export interface Schedule {
  id: string;
  trigger_index: number;
  cron: string;
  timezone: string;
  catch_up: string;
  is_active: boolean;
  input: JsonObject;
  next_run_at: string | null;
  last_run_at: string | null;
  fired_count: number;
  missed_count: number;
  upcoming: { utc: string; local: string }[];
}

export interface WebhookInfo {
  workflow_id: string;
  has_trigger: boolean;
  connector: string | null;
  url: string | null;
  scheme: string | null;
  subscribed: boolean;
  rotated_at: string | null;
}

export interface Subscription {
  workflow_id: string;
  url: string;
  secret: string;
  scheme: string;
}

export interface Health {
  checked_at: string;
  workers: { worker: string; runs_held: number; steps_10m: number; last_seen: string | null; lease_expires_at?: string }[];
  queue: {
    queued: number;
    due: number;
    running: number;
    waiting: number;
    paused: number;
    oldest_queued_at: string | null;
    oldest_queued_seconds: number | null;
    failed_24h: number;
  };
}

export interface PluginProcess {
  name: string;
  version: string;
  enabled: boolean;
  state: string;
  pid: number | null;
  restarts: number;
  consecutive_failures: number;
  uptime_seconds: number | null;
  rss_bytes: number | null;
}

export interface RunEvent {
  type: 'event';
  event: string;
  execution_id: string;
  node_id?: string;
  iteration?: string;
  attempt?: number;
  step_id?: number;
  status?: ExecutionStatus;
  duration_ms?: number | null;
  error_type?: string | null;
  error_message?: string | null;
  waiting_for?: Execution['waiting_for'];
  started_at?: string;
}

export type UpgradeOutcome = 'identical' | 'changed' | 'failing' | 'incompatible';

/** One recorded step replayed against a new plugin version (POST /plugins/{name}/upgrade-check). */
export interface UpgradeSample {
  capability: string;
  step_id: number;
  execution_id: string;
  workflow_id: string;
  workflow: string;
  node_id: string;
  old_version: string;
  outcome: UpgradeOutcome;
  diff: { op: string; path: string; value?: unknown; from?: string }[];
  reason: string;
  error_type: string | null;
}

export interface UpgradeReport {
  plugin: string;
  to_version: string;
  from_versions: string[];
  clean: boolean;
  counts: Record<UpgradeOutcome, number>;
  samples: UpgradeSample[];
  removed_capabilities: string[];
  notes: string[];
}

/** What an apply or a rollback re-pinned. */
export interface UpgradeApplied {
  plugin: string;
  workflows: { workflow_id: string; workflow: string; from_version: string; to_version: string; workflow_version: number }[];
  skipped: { workflow_id: string; workflow: string; why: string }[];
  report: UpgradeReport | null;
}
