// The function library of the Kubernetes CEL environment, assembled once.
import { Registry } from './registry.js';
import { registerOptionals } from './optionals.js';
import { registerStandard } from './standard.js';
import { registerStrings } from './strings.js';
import { registerLists } from './lists.js';
import { registerQuantity } from './quantity.js';
import { registerIP } from './ip.js';
import { registerURL } from './url.js';
import { registerSemver } from './semver.js';
import { registerFormat } from './format.js';
import { registerAuthz } from './authz.js';

let shared: Registry | undefined;

export function kubernetesLibrary(): Registry {
  if (shared) return shared;
  const r = new Registry();
  registerStandard(r);
  registerOptionals(r);
  registerStrings(r);
  registerLists(r);
  registerQuantity(r);
  registerIP(r);
  registerURL(r);
  registerSemver(r);
  registerFormat(r);
  registerAuthz(r);
  shared = r;
  return r;
}
