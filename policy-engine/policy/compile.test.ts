import { compilePolicy, MAX_EXPRESSION_LENGTH } from './compile.js';
import { KidpPolicyError } from './errors.js';
import type { Policy } from './types.js';
import type { SchemaResolver } from '../schemas/index.js';
import { coreSchemas } from '../schemas/core.js';

// A small Database-like schema, injected so these tests do not depend on crds/.
const databaseSchema = {
  type: 'object',
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object', properties: { name: { type: 'string' }, labels: { type: 'object', additionalProperties: { type: 'string' } } } },
    spec: {
      type: 'object',
      properties: {
        environment: { type: 'string' },
        storageGB: { type: 'integer' },
        tags: { type: 'array', items: { type: 'string' } },
        backup: { type: 'object', properties: { enabled: { type: 'boolean' }, retentionDays: { type: 'integer' } } },
      },
    },
  },
};
const schemas: SchemaResolver = (t) => (t === 'Database' ? databaseSchema : coreSchemas[t]);

function policy(spec: Partial<Policy['spec']>, name = 'p'): Policy {
  return {
    apiVersion: 'platform.kidp.io/v1alpha1',
    kind: 'Policy',
    metadata: { name },
    spec: { selector: { resourceTypes: ['Database'] }, rules: [{ name: 'r', expression: 'true' }], ...spec },
  };
}

/** The error as plain data, so tests compare the whole of it. */
function failure(p: Policy): { name: string; code: string; message: string; locations: unknown } | 'compiled' {
  try {
    compilePolicy(p, { schemas });
    return 'compiled';
  } catch (err) {
    if (!(err instanceof KidpPolicyError)) throw err;
    return { name: err.name, code: err.code, message: err.message, locations: err.locations };
  }
}

describe('compilePolicy rejects', () => {
  test.each([
    [
      'a policy with no rules',
      policy({ rules: [] }),
      {
        name: 'PolicyNoRulesError',
        code: 'KIDP_POLICY_NO_RULES',
        message: 'policy "p" has no rules: add at least one entry to spec.rules',
        locations: [{ where: 'spec.rules' }],
      },
    ],
    [
      'duplicate rule names',
      policy({ rules: [{ name: 'a', expression: 'true' }, { name: 'a', expression: 'false' }] }),
      {
        name: 'PolicyDuplicateNameError',
        code: 'KIDP_POLICY_DUPLICATE_NAME',
        message: 'policy "p": two entries of spec.rules are named "a": names must be unique',
        locations: [{ where: 'spec.rules[1]' }],
      },
    ],
    [
      'an undeclared variable, naming the rule and column',
      policy({ rules: [{ name: 'uses-foo', expression: 'spec.storageGB > 1 && foo' }] }),
      {
        name: 'PolicyCompileError',
        code: 'KIDP_POLICY_COMPILE',
        message: `policy "p" does not compile:\n  rule "uses-foo" (line 1, column 23): undeclared reference to 'foo' (in container '')`,
        locations: [{ where: 'rule "uses-foo"', line: 1, column: 23 }],
      },
    ],
    [
      'comparing an integer field to a string (typed from the schema)',
      policy({ rules: [{ name: 'size', expression: "spec.storageGB == 'big'" }] }),
      {
        name: 'PolicyCompileError',
        code: 'KIDP_POLICY_COMPILE',
        message: `policy "p" does not compile:\n  rule "size" (line 1, column 16): found no matching overload for '_==_' applied to '(int, string)'`,
        locations: [{ where: 'rule "size"', line: 1, column: 16 }],
      },
    ],
    [
      'a field the schema does not have',
      policy({ rules: [{ name: 'typo', expression: 'spec.bakup.enabled' }] }),
      {
        name: 'PolicyCompileError',
        code: 'KIDP_POLICY_COMPILE',
        message: `policy "p" does not compile:\n  rule "typo" (line 1, column 5): undefined field 'bakup'`,
        locations: [{ where: 'rule "typo"', line: 1, column: 5 }],
      },
    ],
    [
      'a rule that is not a bool',
      policy({ rules: [{ name: 'size', expression: 'spec.storageGB' }] }),
      {
        name: 'PolicyCompileError',
        code: 'KIDP_POLICY_COMPILE',
        message: `policy "p" does not compile:\n  rule "size" (line 1, column 1): expected type 'bool' but found 'int'`,
        locations: [{ where: 'rule "size"', line: 1, column: 1 }],
      },
    ],
    [
      'every problem at once: matchCondition, variable, messageExpression',
      policy({
        matchConditions: [{ name: 'mc', expression: 'request.userInfo.nme == "x"' }],
        variables: [{ name: 'v', expression: '1 +' }],
        rules: [{ name: 'r', expression: 'true', messageExpression: 'variables.nope' }],
      }),
      {
        name: 'PolicyCompileError',
        code: 'KIDP_POLICY_COMPILE',
        message:
          'policy "p" does not compile:\n' +
          `  variable "v" (line 1, column 4): mismatched input '<EOF>'\n` +
          `  matchCondition "mc" (line 1, column 17): undefined field 'nme'\n` +
          `  rule "r" messageExpression (line 1, column 10): undefined field 'nope'`,
        locations: [
          { where: 'variable "v"', line: 1, column: 4 },
          { where: 'matchCondition "mc"', line: 1, column: 17 },
          { where: 'rule "r" messageExpression', line: 1, column: 10 },
        ],
      },
    ],
    [
      'a 10 KB expression',
      policy({ rules: [{ name: 'huge', expression: `${'true && '.repeat(1280)}true` }] }),
      {
        name: 'PolicyExpressionTooLargeError',
        code: 'KIDP_POLICY_EXPRESSION_TOO_LARGE',
        message: `policy "p": rule "huge": expression is 10244 bytes, over the limit of ${MAX_EXPRESSION_LENGTH}; split it into variables or several rules`,
        locations: [{ where: 'rule "huge"' }],
      },
    ],
    [
      'an unknown mode',
      policy({ mode: 'Deny' as 'Enforce' }),
      {
        name: 'PolicyInvalidError',
        code: 'KIDP_POLICY_INVALID',
        message: 'policy "p": spec.mode must be one of Enforce, Warn, Audit (got "Deny")',
        locations: [{ where: 'spec.mode' }],
      },
    ],
  ])('%s', (_name, p, want) => {
    expect(failure(p)).toEqual(want);
  });
});

describe('compilePolicy accepts', () => {
  // Kubernetes refuses no ValidatingAdmissionPolicy for its estimated cost (see
  // ESTIMATED_COST_WARNING); these are the examples, accepted there and here.
  test.each<[string, Partial<Policy['spec']>]>([
    [
      'Deployment images: a map variable and an all() over it',
      {
        selector: { resourceTypes: ['Deployment.apps'] },
        variables: [{ name: 'images', expression: 'object.spec.template.spec.containers.map(c, c.image)' }],
        rules: [{ name: 'tagged', expression: "variables.images.all(i, !i.endsWith(':latest') && i.contains(':'))" }],
      },
    ],
    [
      'ConfigMap keys matched by a regex',
      {
        selector: { resourceTypes: ['ConfigMap'] },
        rules: [{ name: 'keys', expression: "!has(object.data) || object.data.all(k, k.matches('^[a-z0-9.-]+$'))" }],
      },
    ],
  ])('%s, with a cost warning and no error', (_name, spec) => {
    const compiled = compilePolicy(policy(spec), { schemas });
    expect(compiled.rules.map((r) => r.name)).toHaveLength(1);
    expect(compiled.warnings.length).toBeGreaterThan(0);
    for (const w of compiled.warnings) expect(w).toMatch(/estimated worst-case cost \d+ exceeds the per-call limit of 1000000; accepted/);
  });

  test('four nested loops over an unbounded list: accepted with a warning naming the rule', () => {
    const compiled = compilePolicy(
      policy({ rules: [{ name: 'quartic', expression: 'spec.tags.all(a, spec.tags.all(b, spec.tags.all(c, spec.tags.all(d, a + b + c + d != ""))))' }] }),
      { schemas },
    );
    expect(compiled.warnings).toEqual([expect.stringMatching(/^rule "quartic": estimated worst-case cost \d+ exceeds the per-call limit of 1000000; accepted/)]);
  });

  test('a typed policy, with defaults filled in', () => {
    const compiled = compilePolicy(
      policy({
        variables: [{ name: 'backup', expression: 'spec.?backup' }],
        rules: [
          { name: 'enabled', expression: 'variables.backup.?enabled.orValue(false)', message: 'enable backups' },
          { name: 'size', expression: 'spec.storageGB >= 10', severity: 'low', messageExpression: "'too small: ' + string(spec.storageGB)" },
        ],
      }),
      { schemas },
    );
    expect({
      name: compiled.name,
      mode: compiled.mode,
      resourceTypes: [...compiled.resourceTypes],
      operations: [...compiled.operations],
      variables: compiled.variables.map((v) => [v.name, v.program.outputType.name]),
      rules: compiled.rules.map((r) => [r.name, r.severity, r.message, r.messageProgram !== undefined]),
    }).toEqual({
      name: 'p',
      mode: 'Audit',
      resourceTypes: ['Database'],
      operations: ['CREATE', 'UPDATE'],
      variables: [['backup', 'optional_type']],
      rules: [
        ['enabled', 'medium', 'enable backups', false],
        ['size', 'low', undefined, true],
      ],
    });
  });

  test('several kinds: object is dyn, so fields of either kind type-check', () => {
    const compiled = compilePolicy(
      policy({ selector: { resourceTypes: ['Database', 'Pod'] }, rules: [{ name: 'r', expression: 'object.spec.anything == 1' }] }),
      { schemas },
    );
    expect(compiled.rules.map((r) => r.name)).toEqual(['r']);
  });
});
