/**
 * Deploy messages: between the extension (extension/src/deploy/) and the sidecar's rollout
 * controller (server/src/deploy/register.ts), and between the extension and the rollout view
 * (media/rollout.ts). Each config is named by the absolute path of its `.pronto/deploy.yaml`.
 *
 * The sidecar runs the same controller as `pronto-deploy`; a rollout may also be driven by another
 * process (a CI job, a terminal), so the view polls `pronto/deploy/status` besides listening to
 * `pronto/deploy/progress`.
 */
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';
import { z } from 'zod';

// Plain types (mirrors of server/src/deploy types, kept here so the extension and the page need no server code).

export type DeployPhase =
  | 'deploying'
  | 'waitingReady'
  | 'smokeTesting'
  | 'analysing'
  | 'awaitingPromotion'
  | 'switching'
  | 'watching'
  | 'scalingDown'
  | 'rollingBack'
  | 'succeeded'
  | 'rolledBack'
  | 'aborted';

export interface DeployGate {
  stage: 'smoke' | 'analysis' | 'watch';
  name: string;
  source: string;
  threshold: string;
  measured: string;
  passed: boolean;
}

export interface DeployRollout {
  id: string;
  revision: string;
  phase: DeployPhase;
  stable?: 'blue' | 'green';
  candidate: 'blue' | 'green';
  switched: boolean;
  startedAt: number;
  phaseStartedAt: number;
  deadline?: number;
  gates: DeployGate[];
  reason?: string;
  by: string;
  history: Array<{ at: number; phase: DeployPhase; note: string }>;
}

export interface DeployEndpoint {
  url: string;
  apiKey: string;
}

/**
 * Where each part of the deployment answers. `colours` is what the monitoring panel registers as
 * named sources during a rollout ("deploy <name>: blue", "deploy <name>: green").
 */
export interface DeployEndpoints {
  active?: DeployEndpoint;
  preview?: DeployEndpoint;
  colours: Partial<Record<'blue' | 'green', DeployEndpoint & { role: 'active' | 'preview' | 'idle'; replicas: number }>>;
}

export interface DeployConfigProblem {
  line: number;
  column: number;
  path: string;
  message: string;
}

export interface DeployStatusParams {
  configFile: string;
}

export type DeployStatusResult =
  | { ok: false; problems: DeployConfigProblem[] }
  | {
      ok: true;
      name: string;
      target: 'local' | 'kubernetes';
      platform: string;
      revision: string;
      active?: 'blue' | 'green';
      rollout?: DeployRollout;
      /** Who drives the rollout now ("ann@host (pronto-deploy rollout, pid 12) since …"), if anyone. */
      drivenBy?: string;
      /** A rollout in progress that nobody drives (the driver died): Deploy Engine… resumes it. */
      interrupted: boolean;
      /** This sidecar drives it. */
      drivenHere: boolean;
      summary: string;
    };

/** client → server: the config (checked) and the deployment's state. */
export namespace DeployStatusRequest {
  export const method = 'pronto/deploy/status' as const;
  export const type = new RequestType<DeployStatusParams, DeployStatusResult, void>(method);
}

/** client → server: start a rollout of the config (or resume the interrupted one); answers once it started. */
export namespace DeployStartRequest {
  export const method = 'pronto/deploy/start' as const;
  export const type = new RequestType<DeployStatusParams, { rolloutId: string; resumed: boolean }, void>(method);
}

/** server → client: a rollout this sidecar drives moved on (also sent once when it ends). */
export interface DeployProgressParams {
  configFile: string;
  rollout: DeployRollout;
  message: string;
  /** The controller stopped (the rollout ended, or failed to be driven: see `error`). */
  finished: boolean;
  error?: string;
}
export namespace DeployProgressNotification {
  export const method = 'pronto/deploy/progress' as const;
  export const type = new NotificationType<DeployProgressParams>(method);
}

/** client → server: promote or abort (roll back) the rollout in progress, whoever drives it. */
export namespace DeployManualRequest {
  export const method = 'pronto/deploy/manual' as const;
  export const type = new RequestType<DeployStatusParams & { action: 'promote' | 'abort' }, { message: string }, void>(method);
}

/** client → server: the endpoints (URLs and the API key) of the deployment. */
export namespace DeployEndpointsRequest {
  export const method = 'pronto/deploy/endpoints' as const;
  export const type = new RequestType<DeployStatusParams, DeployEndpoints, void>(method);
}

/** client → server: the Kubernetes manifests for the current layout (YAML, the key masked). */
export namespace DeployManifestsRequest {
  export const method = 'pronto/deploy/manifests' as const;
  export const type = new RequestType<DeployStatusParams, { yaml: string }, void>(method);
}

/** client → server: replicas of the active colour (local: engine processes). */
export namespace DeployScaleRequest {
  export const method = 'pronto/deploy/scale' as const;
  export const type = new RequestType<DeployStatusParams & { replicas: number }, { colour: 'blue' | 'green'; replicas: number }, void>(
    method,
  );
}

/** client → server: the commented starter config text. */
export namespace DeployStarterRequest {
  export const method = 'pronto/deploy/starter' as const;
  export const type = new RequestType<{ kind: 'local' | 'kubernetes'; name?: string; modelPath?: string }, { text: string }, void>(method);
}

// ---------------------------------------------------------------------------------------------
// The rollout view (extension/src/deploy/rolloutView.ts ⇄ media/rollout.ts)
// ---------------------------------------------------------------------------------------------

/** Commands the rollout page may ask for (an allow-list). */
export const ROLLOUT_VIEW_COMMANDS = ['pronto.deploy.promote', 'pronto.deploy.rollBack', 'pronto.deploy.start', 'pronto.showLogs'] as const;

export const rolloutViewToExtensionSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ready') }),
  z.strictObject({ type: z.literal('runCommand'), command: z.enum(ROLLOUT_VIEW_COMMANDS) }),
]);
export type RolloutViewToExtension = z.infer<typeof rolloutViewToExtensionSchema>;

export interface RolloutViewState {
  type: 'state';
  configFile: string;
  status: DeployStatusResult | { ok: false; problems: DeployConfigProblem[]; serverDown?: boolean };
  /** The last progress line of a rollout this window drives. */
  message?: string;
  /** Extension clock (ms since the epoch) when this was read. */
  at: number;
}
export type ExtensionToRolloutView = RolloutViewState;
