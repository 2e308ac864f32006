// Each archetype's own promises (tests.yaml beside it), for every environment, and the
// rendering rules every archetype shares. That the output is admitted (schema, ownership,
// every built-in Policy) is cli/new.test.ts's: the pipeline of `kidp validate` lives in cli/.
import { createEnvironment, types, toJson } from '../policy-engine/cel/index.js';
import { ArchetypeInputError, ENVIRONMENTS, archetypeNames, loadArchetype, loadArchetypeTests, renderArchetype } from './index.js';

const params = { team: 'payments', app: 'checkout' };

test('the four archetypes of issue 16 are there, each with tests', () => {
  expect(archetypeNames()).toEqual(['cached-web', 'http-api', 'scheduled-job', 'worker']);
  for (const name of archetypeNames()) expect(loadArchetypeTests(name).length).toBeGreaterThanOrEqual(4);
});

describe.each(archetypeNames())('%s', (name) => {
  const archetype = loadArchetype(name);
  const cases = ENVIRONMENTS.flatMap((environment) => loadArchetypeTests(name).map((t) => [environment, t.name, t.expression] as const));
  test.each(cases)('%s: %s', (environment, _name, expression) => {
    const rendered = renderArchetype(archetype, { ...params, environment });
    const resources = Object.fromEntries(rendered.map((r) => [r.id, r.manifest]));
    const program = createEnvironment({ variables: { resources: types.dyn, environment: types.string } }).compile(expression);
    expect(toJson(program.evaluate({ resources, environment }))).toBe(true);
  });

  test.each(ENVIRONMENTS)('%s: the Application comes first, everything is in the team namespace and names the environment', (environment) => {
    const rendered = renderArchetype(archetype, { ...params, environment });
    expect(rendered[0]!.manifest.kind).toBe('Application');
    for (const r of rendered) {
      const m = r.manifest as { metadata: { namespace: string; labels: Record<string, string> }; spec: { environment: string } };
      expect({ namespace: m.metadata.namespace, label: m.metadata.labels.environment, env: m.spec.environment }).toEqual({ namespace: 'payments', label: environment, env: environment });
    }
  });
});

describe('parameters', () => {
  const archetype = loadArchetype('http-api');
  test.each([
    ['a newline and a field', { app: 'checkout\nkind: Secret' }, /--app: .* is not a valid name/],
    ['a template placeholder', { app: '${team}' }, /--app: .* is not a valid name/],
    ['upper case', { team: 'Payments' }, /--team: .* is not a valid name/],
    ['a name too long for the names made from it', { app: 'a'.repeat(57) }, /--app: .* longer than 56 characters/],
    ['an unknown environment', { environment: 'prod' }, /--env: "prod" is not one of development, staging, production/],
    ['an image with spaces', { image: 'a b' }, /--image: "a b" is not an image reference/],
  ])('%s is refused', (_name, override, message) => {
    expect(() => renderArchetype(archetype, { ...params, environment: 'development', ...override } as never)).toThrow(ArchetypeInputError);
    expect(() => renderArchetype(archetype, { ...params, environment: 'development', ...override } as never)).toThrow(message);
  });

  test('parameters land in string values only, once: a value is never substituted again', () => {
    const rendered = renderArchetype(archetype, { ...params, environment: 'development', namespace: 'team-a', image: 'registry.kidp.io/x/${app}:1' });
    const api = rendered.find((r) => r.id === 'api')!.manifest as { metadata: { namespace: string }; spec: { image: string } };
    expect({ ns: api.metadata.namespace, image: api.spec.image }).toEqual({ ns: 'team-a', image: 'registry.kidp.io/x/${app}:1' });
  });

  test('an unknown archetype names the known ones', () => {
    expect(() => loadArchetype('lambda')).toThrow('unknown archetype "lambda"; the archetypes are cached-web, http-api, scheduled-job, worker');
  });
});
