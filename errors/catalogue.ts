// KIDP's one catalogue of error codes (STYLE.md §7). Each folder keeps its error classes
// beside the code that throws them (brokers/errors.ts, certs/errors.ts, ...); this file is
// the single list of every code with what it means and what to do, typed so that a code
// added to a folder without an entry here does not compile, and tested so that no two
// folders use one code.
import type { AdmissionErrorCode } from '../admission/review.js';
import type { BrokersErrorCode } from '../brokers/errors.js';
import type { CertsErrorCode } from '../certs/errors.js';
import type { ControllersErrorCode } from '../controllers/errors.js';
import type { CrdErrorCode } from '../crds/errors.js';
import type { CelErrorCode } from '../policy-engine/cel/errors.js';
import type { PolicyErrorCode } from '../policy-engine/policy/errors.js';

export type KidpErrorCode = AdmissionErrorCode | BrokersErrorCode | CertsErrorCode | ControllersErrorCode | CrdErrorCode | CelErrorCode | PolicyErrorCode;

export interface CatalogueEntry {
  /** The folder whose errors.ts defines the class. */
  folder: string;
  /** What went wrong, and what to do about it. */
  meaning: string;
}

export const ERROR_CATALOGUE: Readonly<Record<KidpErrorCode, CatalogueEntry>> = {
  KIDP_ADMISSION_BAD_REVIEW: { folder: 'admission', meaning: 'The webhook received something that is not an AdmissionReview v1 it can decide on; the apiserver shows the reason. Check what calls the webhook.' },

  KIDP_BROKERS_MALFORMED_MESSAGE: { folder: 'brokers', meaning: 'A Kafka or webhook message is not JSON or does not match the protocol schema; it is dead-lettered. Fix the sender (see brokers/protocol.ts).' },
  KIDP_BROKERS_UNSUPPORTED_VERSION: { folder: 'brokers', meaning: 'A message speaks a protocol apiVersion this build does not; upgrade the older side.' },
  KIDP_BROKERS_DISPATCH_TRANSIENT: { folder: 'brokers', meaning: 'A deployment request could not be delivered yet (Kafka or the broker webhook unreachable); it is retried with backoff.' },
  KIDP_BROKERS_DISPATCH_PERMANENT: { folder: 'brokers', meaning: 'The broker refused the request for good (malformed, not its target); the resource goes Failed. Fix the DeploymentTarget or the resource.' },
  KIDP_BROKERS_UNAUTHENTICATED: { folder: 'brokers', meaning: "A status event's JWT is missing, forged or expired; the status API answers 401 and status is unchanged. Check the broker's signing key in the DeploymentTarget." },
  KIDP_BROKERS_FORBIDDEN: { folder: 'brokers', meaning: 'A broker reported on a resource outside its own targets; refused with 403.' },
  KIDP_BROKERS_RESOURCE_NOT_FOUND: { folder: 'brokers', meaning: 'A status event names a resource (or DeploymentTarget) that does not exist (any more); the event changes nothing.' },
  KIDP_BROKERS_STATUS_CONFLICT: { folder: 'brokers', meaning: 'Status kept changing underneath a status write after every retry; the event is retried.' },
  KIDP_BROKERS_DEPLOY_FAILED: { folder: 'brokers', meaning: 'The broker could not apply the objects for a request; reported as Failed (permanent or retried, as the message says).' },
  KIDP_BROKERS_MESSAGE_REFUSED: { folder: 'brokers', meaning: "A Kafka request or status event is unsigned, signed by the wrong key, expired, or a replay; it is dead-lettered with the reason (header kidp-dlq-reason), counted in kidp_broker_messages_refused_total, and changes nothing. Check who produced it: only the controllers' dispatch key signs requests, only the key in a DeploymentTarget signs its status." },
  KIDP_BROKERS_PLACEMENT_REFUSED: { folder: 'brokers', meaning: 'A broker refused a request outside its confinement: a namespace it was not configured for (or kube-system, the platform namespace), a privileged or host-level workload, or env from a Secret that is not the resource\'s own connection Secret. The resource goes Failed (permanent); change the resource or the broker\'s --namespace.' },
  KIDP_BROKERS_REQUEST_UNAUTHENTICATED: { folder: 'brokers', meaning: "A webhook delivery to a broker lacks a valid controllers' token (missing, other key, expired, wrong audience, body changed); 401, nothing applied. Check --dispatch-signing-key-file and --platform-public-key-file." },

  KIDP_CERTS_MATERIAL_CORRUPT: { folder: 'certs', meaning: 'Stored certificate material cannot be parsed or does not match its key; delete it to have it issued anew.' },
  KIDP_CERTS_STORE_CONFLICT: { folder: 'certs', meaning: 'Another replica changed the certificate Secret at the same time; re-read and retried.' },
  KIDP_CERTS_STORE_FAILED: { folder: 'certs', meaning: 'The certificate directory or Secret could not be written; check permissions.' },
  KIDP_CERTS_INVALID_OPTIONS: { folder: 'certs', meaning: 'Certificate options contradict each other (validity, rotation threshold); fix the flags.' },
  KIDP_CERTS_CA_BUNDLE_APPLY_FAILED: { folder: 'certs', meaning: "The caBundle could not be written into the webhook configurations; check the webhook's RBAC." },

  KIDP_CONTROLLERS_CONFLICT: { folder: 'controllers', meaning: 'An object changed between read and write; the reconcile is retried from current state.' },
  KIDP_CONTROLLERS_API: { folder: 'controllers', meaning: 'An apiserver call failed; retried with backoff. Persistent: check connectivity and RBAC.' },
  KIDP_CONTROLLERS_TERMINAL: { folder: 'controllers', meaning: "A reconcile cannot succeed without a change to the resource; recorded in its status, not retried." },
  KIDP_CONTROLLERS_INVALID_OPTIONS: { folder: 'controllers', meaning: 'Controller options contradict each other (lease timings, workers); fix the flags.' },

  KIDP_CRDS_NOT_FOUND: { folder: 'crds', meaning: 'The CRD YAML folder is missing from the installation; reinstall KIDP.' },
  KIDP_CRD_INVALID: { folder: 'crds', meaning: 'A CRD file does not parse or is not a CustomResourceDefinition.' },

  CEL_COMPILE: { folder: 'policy-engine/cel', meaning: 'A CEL expression does not parse or type-check; every problem is listed with its line and column.' },
  CEL_EVAL: { folder: 'policy-engine/cel', meaning: 'A CEL expression failed at run time (no such key, overflow, no matching overload); a rule that errors counts as failed.' },
  CEL_COST_LIMIT: { folder: 'policy-engine/cel', meaning: 'An expression went over the Kubernetes cost limit (per call or per policy); simplify it or bound its lists.' },

  KIDP_POLICY_INVALID: { folder: 'policy-engine/policy', meaning: 'A Policy object is malformed (spec, mode, selector); the message names the field.' },
  KIDP_POLICY_NO_RULES: { folder: 'policy-engine/policy', meaning: 'A Policy has no rules; add at least one.' },
  KIDP_POLICY_DUPLICATE_NAME: { folder: 'policy-engine/policy', meaning: 'Two rules, variables or matchConditions of one Policy share a name.' },
  KIDP_POLICY_EXPRESSION_TOO_LARGE: { folder: 'policy-engine/policy', meaning: "An expression is longer than Kubernetes allows; split it, or move parts into variables." },
  KIDP_POLICY_COMPILE: { folder: 'policy-engine/policy', meaning: 'An expression of a Policy does not compile; the message names the rule and position.' },
  KIDP_INPUT_YAML: { folder: 'policy-engine/policy', meaning: 'An input file (manifests, --vars) is not valid YAML; the message gives the line.' },
  KIDP_INPUT_INVALID: { folder: 'policy-engine/policy', meaning: 'An input parses but has the wrong shape (e.g. --vars is not a mapping); the message says which.' },
  KIDP_INPUT_TOO_DEEP: { folder: 'policy-engine/policy', meaning: 'An input nests deeper than KIDP converts; flatten it.' },
  KIDP_SUITE_INVALID: { folder: 'policy-engine/policy', meaning: "A policy test suite (kidp test) is malformed; the message names the case." },
};

/** The code of an error from KIDP's catalogue, or undefined for anything else. */
export function kidpErrorCode(e: unknown): KidpErrorCode | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOGUE, code) ? (code as KidpErrorCode) : undefined;
}
