// The function library of the Kubernetes CEL environment, assembled once.
import { Registry } from './registry.js';
import { registerOptionals } from './optionals.js';
import { registerStandard } from './standard.js';
import { registerStrings } from './strings.js';
import { registerMath } from './math.js';

let shared: Registry | undefined;

export function kubernetesLibrary(): Registry {
  if (shared) return shared;
  const r = new Registry();
  registerStandard(r);
  registerOptionals(r);
  registerStrings(r);
  registerMath(r);
  shared = r;
  return r;
}
