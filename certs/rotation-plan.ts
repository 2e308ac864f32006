// Deciding what to rotate is a pure function of (stored material, now, policy): the
// manager reads, plans, then acts, so every rotation rule is testable without waiting.
import { CLOCK_SKEW_ALLOWANCE_MS, DEFAULT_CA_VALIDITY_MS } from './ca.js';
import type { ParsedCertificate, ParsedKeyPair, ParsedMaterial } from './material.js';
import { DEFAULT_SERVING_VALIDITY_MS, LOOPBACK_IPS, servingDnsNames, type ServingIdentity } from './serving.js';

export interface RotationPolicy {
  caValidityMs: number;
  servingValidityMs: number;
  /** Renew the CA once less than this fraction of its lifetime remains. */
  caRenewBeforeFraction: number;
  /** Renew the serving certificate once less than this fraction of its lifetime remains. */
  servingRenewBeforeFraction: number;
  /** How long a new CA sits in the bundle before any serving certificate is signed by it. */
  caTrustPropagationMs: number;
  /** Look at the store at least this often, to adopt what another replica rotated. */
  resyncIntervalMs: number;
}

export const DEFAULT_ROTATION_POLICY: RotationPolicy = {
  caValidityMs: DEFAULT_CA_VALIDITY_MS,
  servingValidityMs: DEFAULT_SERVING_VALIDITY_MS,
  // A third of a year (~122 days) is longer than a serving certificate lives, so every
  // certificate signed by the old CA expires while the old CA is still in the bundle.
  caRenewBeforeFraction: 1 / 3,
  // A third of 90 days leaves a month to notice and fix a rotation that keeps failing.
  servingRenewBeforeFraction: 1 / 3,
  // Covers one resync of every replica (5 min) plus the apiserver picking up the new
  // caBundle from the webhook configuration (seconds), with a wide margin.
  caTrustPropagationMs: 15 * 60 * 1000,
  // Cheap (one file read or one Secret GET) and bounds how long replicas disagree.
  resyncIntervalMs: 5 * 60 * 1000,
};

/** Never plan a re-check sooner than this, so disagreeing clocks cannot cause a hot loop. */
export const MIN_RECHECK_MS = 1000;

export type RotationReason =
  | 'ca-missing'
  | 'ca-expired'
  | 'ca-renewal-due'
  | 'serving-missing'
  | 'serving-expired'
  | 'serving-untrusted'
  | 'serving-names-changed'
  | 'serving-renewal-due'
  | 'serving-from-previous-ca'
  | 'ca-expired-dropped';

export interface RotationPlan {
  newCa: boolean;
  newServing: boolean;
  /** Serials (uppercase hex) of expired CAs to remove from the bundle. */
  dropCaSerials: string[];
  reasons: RotationReason[];
  /** When to look again (epoch ms) if this plan is carried out or has nothing to do. */
  nextCheckAt: number;
}

export interface PlanInput {
  parsed: ParsedMaterial;
  now: number;
  policy: RotationPolicy;
  identity: ServingIdentity;
}

type ServingHealth = 'ok' | 'missing' | 'expired' | 'untrusted' | 'names-changed' | 'renewal-due';

export function planRotation({ parsed, now, policy, identity }: PlanInput): RotationPlan {
  const reasons: RotationReason[] = [];
  const live = parsed.trusted.filter((ca) => ca.notAfter > now);
  const dropCaSerials = parsed.trusted.filter((ca) => ca.notAfter <= now).map((ca) => serialOf(ca));
  if (dropCaSerials.length > 0) reasons.push('ca-expired-dropped');
  const checkAt: number[] = [now + policy.resyncIntervalMs, ...live.map((ca) => ca.notAfter)];

  const { signer, serving } = parsed;
  let newCa = false;
  if (signer === undefined) {
    newCa = true;
    reasons.push('ca-missing');
  } else if (signer.notAfter <= now) {
    newCa = true;
    reasons.push('ca-expired');
  } else if (now >= renewAt(signer, policy.caRenewBeforeFraction)) {
    newCa = true;
    reasons.push('ca-renewal-due');
  } else {
    checkAt.push(renewAt(signer, policy.caRenewBeforeFraction));
  }

  const health = servingHealth(serving, live, identity, now, policy);
  const fromSigner = serving !== undefined && signer !== undefined && !newCa && issuedBy(serving, signer);
  // Until the signing CA has been in the bundle long enough for every client to trust it,
  // a serving certificate that still works is kept: replacing it would drop requests.
  const urgent = health === 'missing' || health === 'expired' || health === 'untrusted';
  const signerTrustedAt =
    newCa || signer === undefined ? now + policy.caTrustPropagationMs : signer.notBefore + CLOCK_SKEW_ALLOWANCE_MS + policy.caTrustPropagationMs;
  let newServing = false;
  if (health !== 'ok' || !fromSigner) {
    if (urgent || (!newCa && now >= signerTrustedAt)) {
      newServing = true;
      reasons.push(health === 'ok' ? 'serving-from-previous-ca' : (`serving-${health}` as RotationReason));
    } else {
      checkAt.push(signerTrustedAt);
    }
  }
  if (serving !== undefined && !newServing) {
    checkAt.push(renewAt(serving, policy.servingRenewBeforeFraction), serving.notAfter);
  }

  const upcoming = checkAt.filter((t) => t > now);
  const nextCheckAt = Math.max(now + MIN_RECHECK_MS, Math.min(...upcoming));
  return { newCa, newServing, dropCaSerials, reasons, nextCheckAt };
}

function servingHealth(
  serving: ParsedKeyPair | undefined,
  live: ParsedCertificate[],
  identity: ServingIdentity,
  now: number,
  policy: RotationPolicy,
): ServingHealth {
  if (serving === undefined) return 'missing';
  if (serving.notAfter <= now) return 'expired';
  if (!live.some((ca) => issuedBy(serving, ca))) return 'untrusted';
  const namesCovered =
    servingDnsNames(identity).every((name) => serving.cert.checkHost(name, { wildcards: false }) !== undefined) &&
    LOOPBACK_IPS.every((ip) => serving.cert.checkIP(ip) !== undefined);
  if (!namesCovered) return 'names-changed';
  if (now >= renewAt(serving, policy.servingRenewBeforeFraction)) return 'renewal-due';
  return 'ok';
}

export function renewAt(cert: ParsedCertificate, renewBeforeFraction: number): number {
  return cert.notAfter - renewBeforeFraction * (cert.notAfter - cert.notBefore);
}

function issuedBy(cert: ParsedCertificate, ca: ParsedCertificate): boolean {
  return cert.cert.checkIssued(ca.cert) && cert.cert.verify(ca.cert.publicKey);
}

export function serialOf(cert: ParsedCertificate): string {
  return cert.cert.serialNumber.toUpperCase();
}
