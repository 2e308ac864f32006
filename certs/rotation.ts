// The certificate manager: loads material from a store, issues what is missing or due,
// and keeps rotating on a timer. Time is injected (STYLE §4): tests pass a ManualClock
// (kube/) and move it instead of waiting.
import { backgroundClock, type Clock, type Timer } from '../kube/index.js';
import { createCa, type IssuedCertificate } from './ca.js';
import { InvalidOptionsError, StoreConflictError } from './errors.js';
import { FileCertificateStore } from './file-store.js';
import { parseMaterial, toMaterial, type Material, type ParsedMaterial } from './material.js';
import { DEFAULT_ROTATION_POLICY, planRotation, serialOf, type RotationPlan, type RotationPolicy } from './rotation-plan.js';
import { issueServingCertificate, type ServingIdentity } from './serving.js';
import type { CertificateStore, MaterialKey } from './store.js';

/** setTimeout silently fires after 1 ms beyond this; longer waits are re-planned on wake-up. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** A failed check (store unreachable) is retried this soon; the current certificate keeps serving. */
export const RETRY_AFTER_FAILURE_MS = 30_000;

/**
 * A conflict means another replica wrote first and a re-read adopts its material, so one
 * retry normally settles it; more than a few means writers are fighting.
 */
export const MAX_CONFLICT_RETRIES = 3;


export type RotateListener = (material: Material) => void | Promise<void>;

export interface CertificateManagerOptions extends ServingIdentity, Partial<RotationPolicy> {
  /** Where material lives; or give `dir` for a FileCertificateStore. */
  store?: CertificateStore;
  dir?: string;
  /** Default: backgroundClock (kube/clock.ts), whose timer does not keep the process alive: the server does. */
  clock?: Clock;
  /** Failures of background checks and of listeners; the manager itself never throws there. */
  onError?: (error: unknown) => void;
}

export interface CertificateManager {
  /** Loads or issues material and starts the rotation timer. Throws on corrupt material. */
  start(): Promise<Material>;
  current(): Material;
  /** Called with the new material after every change made or adopted after start(). */
  onRotate(listener: RotateListener): () => void;
  /** Checks now (what the timer runs): rotates what is due, adopts what others rotated. */
  refresh(): Promise<Material>;
  stop(): void;
}

export function createCertificateManager(options: CertificateManagerOptions): CertificateManager {
  return new Manager(options);
}

class Manager implements CertificateManager {
  private readonly store: CertificateStore;
  private readonly policy: RotationPolicy;
  private readonly identity: ServingIdentity;
  private readonly clock: Clock;
  private readonly onError: (error: unknown) => void;
  private readonly listeners = new Set<RotateListener>();
  private material: Material | undefined;
  private timer: Timer | undefined;
  private started = false;
  private stopped = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: CertificateManagerOptions) {
    if (options.store === undefined && options.dir === undefined) throw new InvalidOptionsError('store', 'give a store or a dir');
    this.store = options.store ?? new FileCertificateStore(options.dir ?? '');
    this.policy = validatePolicy({ ...DEFAULT_ROTATION_POLICY, ...definedOnly(options) });
    this.identity = { serviceName: options.serviceName, namespace: options.namespace, clusterDomain: options.clusterDomain };
    if (!options.serviceName) throw new InvalidOptionsError('serviceName', 'must not be empty');
    if (!options.namespace) throw new InvalidOptionsError('namespace', 'must not be empty');
    this.clock = options.clock ?? backgroundClock;
    this.onError = options.onError ?? (() => undefined);
  }

  async start(): Promise<Material> {
    this.stopped = false;
    const material = await this.refresh();
    this.started = true;
    return material;
  }

  current(): Material {
    if (this.material === undefined) throw new Error('certificate manager not started: await start() first');
    return this.material;
  }

  onRotate(listener: RotateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  refresh(): Promise<Material> {
    // One check at a time: a timer firing during a manual refresh waits its turn.
    const run = this.queue.then(() => this.check());
    this.queue = run.catch(() => undefined);
    return run;
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private async check(): Promise<Material> {
    let result: { material: Material; plan: RotationPlan };
    try {
      result = await this.loadOrRotate();
    } catch (err) {
      if (this.started) this.schedule(RETRY_AFTER_FAILURE_MS);
      throw err;
    }
    const previous = this.material;
    this.material = result.material;
    this.schedule(result.plan.nextCheckAt - this.clock.now());
    if (this.started && previous !== undefined && changed(previous, result.material)) await this.notify(result.material);
    return result.material;
  }

  private async loadOrRotate(): Promise<{ material: Material; plan: RotationPlan }> {
    for (let attempt = 0; ; attempt++) {
      const snapshot = await this.store.read();
      const parsed = parseMaterial(snapshot.files, this.store.location);
      const now = new Date(this.clock.now());
      const plan = planRotation({ parsed, now: now.getTime(), policy: this.policy, identity: this.identity });
      if (!plan.newCa && !plan.newServing && plan.dropCaSerials.length === 0 && parsed.serving !== undefined) {
        return { material: toMaterial({ ...parsed, serving: parsed.serving }), plan };
      }
      const files = await this.carryOut(parsed, plan, now);
      try {
        await this.store.write(files, snapshot.version);
      } catch (err) {
        if (err instanceof StoreConflictError && attempt < MAX_CONFLICT_RETRIES) continue;
        throw err;
      }
      const written = parseMaterial(files, this.store.location);
      if (written.serving === undefined) throw new Error('internal: issued serving certificate does not match its key');
      const after = planRotation({ parsed: written, now: now.getTime(), policy: this.policy, identity: this.identity });
      return { material: toMaterial({ ...written, serving: written.serving }), plan: after };
    }
  }

  private async carryOut(parsed: ParsedMaterial, plan: RotationPlan, now: Date): Promise<Record<MaterialKey, string>> {
    const dropped = new Set(plan.dropCaSerials);
    let trusted = parsed.trusted.filter((ca) => !dropped.has(serialOf(ca))).map((ca) => ca.pem);
    let signer: IssuedCertificate | undefined = parsed.signer && { certPem: parsed.signer.pem, keyPem: parsed.signer.keyPem };
    if (plan.newCa) {
      signer = await createCa({ now, validityMs: this.policy.caValidityMs });
      // The previous CAs stay until they expire: serving certificates they signed, here
      // or on other replicas, must keep verifying during the overlap.
      trusted = [signer.certPem, ...trusted];
    } else if (signer !== undefined) {
      const signerPem = signer.certPem;
      trusted = [signerPem, ...trusted.filter((pem) => pem !== signerPem)];
    }
    if (signer === undefined) throw new Error('internal: no signing CA after planning');
    let serving: IssuedCertificate | undefined = parsed.serving && { certPem: parsed.serving.pem, keyPem: parsed.serving.keyPem };
    if (plan.newServing) {
      serving = await issueServingCertificate({ ...this.identity, ca: signer, now, validityMs: this.policy.servingValidityMs });
    }
    if (serving === undefined) throw new Error('internal: no serving certificate after planning');
    return { 'ca.crt': trusted.join(''), 'ca.key': signer.keyPem, 'tls.crt': serving.certPem, 'tls.key': serving.keyPem };
  }

  private schedule(delayMs: number): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.stopped) return;
    const delay = Math.min(Math.max(delayMs, 0), MAX_TIMER_DELAY_MS);
    this.timer = this.clock.setTimer(async () => {
      this.timer = undefined;
      if (this.stopped) return;
      try {
        await this.refresh();
      } catch (err) {
        this.onError(err);
      }
    }, delay);
  }

  private async notify(material: Material): Promise<void> {
    const results = await Promise.allSettled([...this.listeners].map(async (listener) => listener(material)));
    for (const result of results) if (result.status === 'rejected') this.onError(result.reason);
  }
}

function changed(a: Material, b: Material): boolean {
  return a.certPem !== b.certPem || a.keyPem !== b.keyPem || a.caBundlePem !== b.caBundlePem;
}

function definedOnly(options: Partial<RotationPolicy>): Partial<RotationPolicy> {
  const out: Partial<RotationPolicy> = {};
  for (const key of Object.keys(DEFAULT_ROTATION_POLICY) as (keyof RotationPolicy)[]) {
    const value = options[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function validatePolicy(policy: RotationPolicy): RotationPolicy {
  for (const key of ['caValidityMs', 'servingValidityMs', 'caTrustPropagationMs', 'resyncIntervalMs'] as const) {
    if (!(policy[key] > 0)) throw new InvalidOptionsError(key, `must be a positive number of milliseconds, got ${policy[key]}`);
  }
  for (const key of ['caRenewBeforeFraction', 'servingRenewBeforeFraction'] as const) {
    if (!(policy[key] > 0 && policy[key] < 1)) throw new InvalidOptionsError(key, `must be between 0 and 1, got ${policy[key]}`);
  }
  if (policy.servingValidityMs > policy.caValidityMs * policy.caRenewBeforeFraction) {
    throw new InvalidOptionsError(
      'servingValidityMs',
      'must not exceed the CA overlap (caValidityMs × caRenewBeforeFraction), or serving certificates could outlive the CA that signed them',
    );
  }
  if (policy.caTrustPropagationMs >= policy.caValidityMs * policy.caRenewBeforeFraction) {
    throw new InvalidOptionsError('caTrustPropagationMs', 'must be shorter than the CA overlap (caValidityMs × caRenewBeforeFraction)');
  }
  return policy;
}
