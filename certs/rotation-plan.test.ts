import { createCa, type IssuedCertificate } from './ca.js';
import { parseMaterial } from './material.js';
import { DEFAULT_ROTATION_POLICY, planRotation, type RotationPlan } from './rotation-plan.js';
import { issueServingCertificate } from './serving.js';
import type { StoredFiles } from './store.js';
import { X509Certificate } from 'node:crypto';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const MIN = 60 * 1000;
const DAY = 24 * 60 * MIN;
const SKEW = 5 * MIN;
const identity = { serviceName: 'kidp-webhook', namespace: 'kidp-system' };
const policy = DEFAULT_ROTATION_POLICY;

// Renewal points under the default policy for material issued at T0.
const servingRenewAt = T0 + 90 * DAY - (90 * DAY + SKEW) / 3;
const caRenewAt = T0 + 365 * DAY - (365 * DAY + SKEW) / 3;

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber.toUpperCase();
const files = (cas: IssuedCertificate[], signer: IssuedCertificate | undefined, serving: IssuedCertificate | undefined): StoredFiles => ({
  ...(cas.length > 0 ? { 'ca.crt': cas.map((c) => c.certPem).join('') } : {}),
  ...(signer ? { 'ca.key': signer.keyPem } : {}),
  ...(serving ? { 'tls.crt': serving.certPem, 'tls.key': serving.keyPem } : {}),
});

let ca0: IssuedCertificate; // issued at T0
let serving0: IssuedCertificate; // by ca0 at T0
let servingLate: IssuedCertificate; // by ca0, just before ca0's renewal point
let ca1: IssuedCertificate; // issued at caRenewAt
let servingNew: IssuedCertificate; // by ca1
let expiredCa: IssuedCertificate; // valid T0-2d .. T0-1d

beforeAll(async () => {
  ca0 = await createCa({ now: new Date(T0) });
  serving0 = await issueServingCertificate({ ...identity, ca: ca0, now: new Date(T0) });
  servingLate = await issueServingCertificate({ ...identity, ca: ca0, now: new Date(caRenewAt - 10 * DAY) });
  ca1 = await createCa({ now: new Date(caRenewAt) });
  servingNew = await issueServingCertificate({ ...identity, ca: ca1, now: new Date(caRenewAt + 20 * MIN) });
  expiredCa = await createCa({ now: new Date(T0 - 2 * DAY), validityMs: DAY });
});

type Case = [name: string, input: () => { files: StoredFiles; now: number; namespace?: string }, expected: () => RotationPlan];

const cases: Case[] = [
  [
    'nothing stored: issue CA and serving certificate',
    () => ({ files: {}, now: T0 }),
    () => ({ newCa: true, newServing: true, dropCaSerials: [], reasons: ['ca-missing', 'serving-missing'], nextCheckAt: T0 + 5 * MIN }),
  ],
  [
    'fresh material: nothing to do, look again at the resync interval',
    () => ({ files: files([ca0], ca0, serving0), now: T0 + DAY }),
    () => ({ newCa: false, newServing: false, dropCaSerials: [], reasons: [], nextCheckAt: T0 + DAY + 5 * MIN }),
  ],
  [
    'one second before the serving threshold: nothing, next check at the threshold',
    () => ({ files: files([ca0], ca0, serving0), now: servingRenewAt - 1000 }),
    () => ({ newCa: false, newServing: false, dropCaSerials: [], reasons: [], nextCheckAt: servingRenewAt }),
  ],
  [
    'at the serving threshold: renew the serving certificate',
    () => ({ files: files([ca0], ca0, serving0), now: servingRenewAt }),
    () => ({ newCa: false, newServing: true, dropCaSerials: [], reasons: ['serving-renewal-due'], nextCheckAt: servingRenewAt + 5 * MIN }),
  ],
  [
    'serving certificate expired',
    () => ({ files: files([ca0], ca0, serving0), now: T0 + 91 * DAY }),
    () => ({ newCa: false, newServing: true, dropCaSerials: [], reasons: ['serving-expired'], nextCheckAt: T0 + 91 * DAY + 5 * MIN }),
  ],
  [
    'service moved to another namespace: reissue for the new names',
    () => ({ files: files([ca0], ca0, serving0), now: T0 + DAY, namespace: 'platform' }),
    () => ({ newCa: false, newServing: true, dropCaSerials: [], reasons: ['serving-names-changed'], nextCheckAt: T0 + DAY + 5 * MIN }),
  ],
  [
    'serving key missing: reissue',
    () => ({ files: { ...files([ca0], ca0, serving0), 'tls.key': ca0.keyPem }, now: T0 + DAY }),
    () => ({ newCa: false, newServing: true, dropCaSerials: [], reasons: ['serving-missing'], nextCheckAt: T0 + DAY + 5 * MIN }),
  ],
  [
    'serving certificate signed by a CA not in the bundle: reissue',
    () => ({ files: files([ca1], ca1, servingLate), now: caRenewAt + DAY }),
    () => ({ newCa: false, newServing: true, dropCaSerials: [], reasons: ['serving-untrusted'], nextCheckAt: caRenewAt + DAY + 5 * MIN }),
  ],
  [
    'CA at its threshold with a good serving certificate: new CA only, serving kept until trust propagates',
    () => ({ files: files([ca0], ca0, servingLate), now: caRenewAt }),
    () => ({ newCa: true, newServing: false, dropCaSerials: [], reasons: ['ca-renewal-due'], nextCheckAt: caRenewAt + 5 * MIN }),
  ],
  [
    'new CA in the bundle for less than the propagation time: keep the old-CA serving certificate',
    () => ({ files: files([ca1, ca0], ca1, servingLate), now: caRenewAt + 10 * MIN }),
    () => ({ newCa: false, newServing: false, dropCaSerials: [], reasons: [], nextCheckAt: caRenewAt + 15 * MIN }),
  ],
  [
    'new CA trusted long enough: switch serving to it, keep the old CA in the bundle',
    () => ({ files: files([ca1, ca0], ca1, servingLate), now: caRenewAt + 15 * MIN }),
    () => ({ newCa: false, newServing: true, dropCaSerials: [], reasons: ['serving-from-previous-ca'], nextCheckAt: caRenewAt + 20 * MIN }),
  ],
  [
    'expired CA in the bundle: drop it',
    () => ({ files: files([ca0, expiredCa], ca0, serving0), now: T0 + DAY }),
    () => ({
      newCa: false,
      newServing: false,
      dropCaSerials: [serialOf(expiredCa.certPem)],
      reasons: ['ca-expired-dropped'],
      nextCheckAt: T0 + DAY + 5 * MIN,
    }),
  ],
  [
    'everything expired: new CA and serving certificate at once (nothing working to protect)',
    () => ({ files: files([ca0], ca0, serving0), now: T0 + 400 * DAY }),
    () => ({
      newCa: true,
      newServing: true,
      dropCaSerials: [serialOf(ca0.certPem)],
      reasons: ['ca-expired-dropped', 'ca-expired', 'serving-expired'],
      nextCheckAt: T0 + 400 * DAY + 5 * MIN,
    }),
  ],
  [
    'CA key lost: new CA now; the still-valid serving certificate stays until the new CA propagates',
    () => ({ files: { ...files([ca0], undefined, serving0) }, now: T0 + DAY }),
    () => ({ newCa: true, newServing: false, dropCaSerials: [], reasons: ['ca-missing'], nextCheckAt: T0 + DAY + 5 * MIN }),
  ],
  [
    'a serving certificate from the new CA after overlap: nothing to do',
    () => ({ files: files([ca1, ca0], ca1, servingNew), now: caRenewAt + DAY }),
    () => ({ newCa: false, newServing: false, dropCaSerials: [], reasons: [], nextCheckAt: caRenewAt + DAY + 5 * MIN }),
  ],
];

test.each(cases)('%s', (_name, input, expected) => {
  const { files: stored, now, namespace } = input();
  const parsed = parseMaterial(stored, '/test');
  expect(planRotation({ parsed, now, policy, identity: { ...identity, namespace: namespace ?? identity.namespace } })).toEqual(expected());
});

test('a long resync interval lets certificate deadlines decide the next check', () => {
  const parsed = parseMaterial(files([ca0], ca0, serving0), '/test');
  const plan = planRotation({ parsed, now: T0 + DAY, policy: { ...policy, resyncIntervalMs: 365 * DAY }, identity });
  expect(plan).toEqual({ newCa: false, newServing: false, dropCaSerials: [], reasons: [], nextCheckAt: servingRenewAt });
});
