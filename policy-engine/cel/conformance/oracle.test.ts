// The differential test against Kubernetes itself: test/oracle builds (once, cached) a
// reference evaluator from cel-go and k8s.io/apiserver at the control plane's version,
// and every generated case must give the same type and value, or the same error class,
// here - unless test/oracle/expectations.json lists it with the reason. A listed case
// that now agrees must be removed from the list, so the file stays honest.
import { expectations, oracleBinary, runDifferential } from '../../../test/oracle/differential.js';

// Built and run while the suite is collected (no per-test timeout applies): a cold build
// compiles k8s.io/apiserver's dependencies (minutes on 2 cores), a warm one takes seconds.
describe('KIDP CEL against the Kubernetes v1.37 reference evaluator', () => {
  const listed = expectations();
  const result = runDifferential(oracleBinary());
  const disagreeing = new Set(result.disagreements.map((d) => d.id));

  it('runs at least 5,000 generated cases', () => {
    expect(result.total).toBeGreaterThanOrEqual(5000);
  });

  it('agrees on every case that is not listed with its reason', () => {
    const unlisted = result.disagreements.filter((d) => listed[d.id] === undefined).map((d) => JSON.stringify(d));
    expect(unlisted).toEqual([]);
  });

  it('still disagrees on every listed case (remove fixed ones from expectations.json)', () => {
    expect(Object.keys(listed).filter((id) => !disagreeing.has(id))).toEqual([]);
  });
});
