// The engine's public contract: typing from schemas, compile errors with positions,
// input conversion, cost limits and budgets, and the CEL -> JSON mapping.
import {
  CelCompileError, CelCostLimitError, CelEvalError, PER_CALL_COST_LIMIT, PER_POLICY_COST_LIMIT,
  celTypeName, createEnvironment, toJson, types,
} from './index.js';
import { evaluateToOutcome } from './outcome.js';

const deploymentSchema = {
  type: 'object',
  properties: {
    metadata: {
      type: 'object',
      properties: {
        name: { type: 'string', maxLength: 63 },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
    spec: {
      type: 'object',
      properties: {
        replicas: { type: 'integer' },
        ratio: { type: 'number' },
        port: { 'x-kubernetes-int-or-string': true },
        extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        containers: {
          type: 'array',
          maxItems: 10,
          items: { type: 'object', properties: { name: { type: 'string', maxLength: 20 }, image: { type: 'string', maxLength: 100 } } },
        },
        tags: { type: 'array', items: { type: 'string' } },
      },
    },
  },
};

const env = createEnvironment({ variables: { object: types.fromOpenApiSchema(deploymentSchema) } });
const object = {
  metadata: { name: 'web', labels: { 'cost-center': 'cc-1' } },
  spec: { replicas: 3, ratio: 2, port: 'http', extra: { a: [1, 2.5] }, containers: [{ name: 'app', image: 'r.example.com/app:1.0' }], tags: [] },
};

describe('schema-typed variables', () => {
  it.each([
    ["object.spec.replicas == 'x'", { error: 'CEL_COMPILE', message: "1:22: found no matching overload for '_==_' applied to '(int, string)'" }],
    ['object.spec.replicaz > 1', { error: 'CEL_COMPILE', message: "1:12: undefined field 'replicaz'" }],
    ['object.spec.replicas >= 2', { type: 'bool', value: true }],
    ['object.spec.ratio', { type: 'double', value: 2 }],
    ["object.spec.port == 'http'", { type: 'bool', value: true }],
    ['object.spec.extra.a', { type: 'list', value: [1, 2.5] }],
    ['type(object.spec.extra.a[0])', { type: 'type', value: 'int' }],
    ["has(object.metadata.labels) && 'cost-center' in object.metadata.labels", { type: 'bool', value: true }],
    ["object.spec.containers.all(c, !c.image.endsWith(':latest'))", { type: 'bool', value: true }],
    ['object.spec.containers[0].imag', { error: 'CEL_COMPILE', message: "1:26: undefined field 'imag'" }],
    ["object.metadata.?annotations.orValue({})", { error: 'CEL_COMPILE', message: "1:16: undefined field 'annotations'" }],
    ['object.status', { error: 'CEL_COMPILE', message: "1:7: undefined field 'status'" }],
    ['undeclared > 1', { error: 'CEL_COMPILE', message: "1:1: undeclared reference to 'undeclared' (in container '')" }],
  ])('%s', (expr, want) => {
    expect(evaluateToOutcome(env, expr, { object })).toEqual(want);
  });

  it('reports every issue with line and column', () => {
    let err: unknown;
    try {
      env.compile("object.spec.replicas == 'x' &&\n  object.spec.nope");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CelCompileError);
    const issues = (err as CelCompileError).issues;
    expect(issues.map((i) => [i.line, i.column, i.message])).toEqual([
      [1, 22, "found no matching overload for '_==_' applied to '(int, string)'"],
      [2, 14, "undefined field 'nope'"],
    ]);
    expect((err as CelCompileError).code).toBe('CEL_COMPILE');
  });

  it('rejects a syntax error with its position', () => {
    expect(evaluateToOutcome(env, 'object.spec.replicas >')).toEqual({ error: 'CEL_COMPILE', message: "1:23: mismatched input '<EOF>'" });
  });

  it('checks the expected output type', () => {
    expect(() => env.compile('object.spec.replicas', { expectedType: types.bool })).toThrow("expected type 'bool' but found 'int'");
    expect(env.compile('object.spec.replicas > 1', { expectedType: types.bool }).outputType.name).toBe('bool');
  });
});

describe('dyn inputs', () => {
  const dynEnv = createEnvironment({ variables: { x: types.dyn } });
  it.each([
    [3, 'int', 3],
    [2.5, 'double', 2.5],
    ['s', 'string', 's'],
    [[1, 1.5], 'list', [1, 1.5]],
    [{ a: null }, 'map', { a: null }],
  ])('%j becomes %s', (input, type, value) => {
    const v = dynEnv.compile('x').evaluate({ x: input });
    expect({ type: celTypeName(v), value: toJson(v) }).toEqual({ type, value });
  });

  it('looks variables up lazily through a function, once per evaluation', () => {
    const calls: string[] = [];
    const c = dynEnv.compile('x + x');
    expect(c.evaluate((n) => (calls.push(n), 2))).toBe(4n);
    expect(calls).toEqual(['x']);
  });

  it('fails evaluation (not compile) when a declared variable has no value', () => {
    expect(() => dynEnv.compile('x').evaluate({})).toThrow(CelEvalError);
  });
});

describe('cost', () => {
  it('estimates with maxItems/maxLength, and worst-case sizes without them', () => {
    expect(env.compile("object.spec.containers.all(c, c.name.startsWith('a'))").estimatedCost).toEqual({ min: 3, max: 63 }); // 3 for the range + 10 items x (2 step + c + .name + call + ceil(0.1 x 1))
    expect(env.compile("object.spec.tags.all(t, t.startsWith('a'))").estimatedCost.max).toBeGreaterThan(PER_CALL_COST_LIMIT);
  });

  it('stops a runaway expression with CelCostLimitError well under a second, and keeps serving', () => {
    const l = 'lists.range(1000)';
    const runaway = createEnvironment({ variables: {} }).compile(`${l}.all(x, ${l}.all(y, ${l}.all(z, true)))`);
    const t0 = Date.now();
    let err: unknown;
    try {
      runaway.evaluate({});
    } catch (e) {
      err = e;
    }
    expect(Date.now() - t0).toBeLessThan(500);
    expect(err).toBeInstanceOf(CelCostLimitError);
    expect((err as CelCostLimitError).code).toBe('CEL_COST_LIMIT');
    expect(env.compile('object.spec.replicas').evaluate({ object })).toBe(3n);
  });

  it('shares a budget across evaluations and fails once it is spent', () => {
    const c = createEnvironment({ variables: {} }).compile('lists.range(300).all(x, lists.range(1000).all(y, true))');
    const budget = { used: 0, limit: PER_POLICY_COST_LIMIT };
    const results: string[] = [];
    for (let i = 0; i < 20; i++) {
      try {
        results.push(String(c.evaluate({}, { budget })));
      } catch (e) {
        results.push((e as CelCostLimitError).message);
        break;
      }
    }
    expect(results.slice(0, -1).every((r) => r === 'true')).toBe(true);
    expect(results[results.length - 1]).toBe('operation cancelled: policy cost budget exceeded (limit 10000000)');
    expect(budget.used).toBeGreaterThan(PER_POLICY_COST_LIMIT);
  });

  it('honours a smaller per-call limit', () => {
    const c = createEnvironment({ variables: {} }).compile('lists.range(100).all(x, true)');
    expect(() => c.evaluate({}, { perCallLimit: 50 })).toThrow('operation cancelled: actual cost limit exceeded (per-call limit 50)');
  });
});

describe('toJson', () => {
  const plain = createEnvironment({ variables: {} });
  it.each([
    ['9007199254740993', '9007199254740993'],
    ['42', 42],
    ['18446744073709551615u', '18446744073709551615'],
    ['0.0 / 0.0', 'NaN'],
    ['1.0 / 0.0', 'Infinity'],
    ['-1.0 / 0.0', '-Infinity'],
    ["b'hi'", 'aGk='],
    ["timestamp('2024-01-02T03:04:05.5Z')", '2024-01-02T03:04:05.5Z'],
    ["duration('90s')", '90s'],
    ["duration('1.5s')", '1.5s'],
    ["{'a': [dyn(1), optional.none()]}", { a: [1, null] }],
    ['optional.of(3)', 3],
    ["quantity('1Gi')", '1Gi'],
    ["cidr('10.0.0.0/8')", '10.0.0.0/8'],
    ['type(1)', 'int'],
  ])('%s', (expr, want) => {
    expect(toJson(plain.compile(expr).evaluate({}))).toEqual(want);
  });
});

describe('constant calls (evaluated once when the expression is planned)', () => {
  const env = createEnvironment({ variables: { a: types.string, b: types.string, n: types.int, xs: types.list(types.int) } });
  const costOf = (src: string, vars: Record<string, unknown> = {}): number => {
    const budget = { used: 0, limit: PER_POLICY_COST_LIMIT };
    env.compile(src).evaluate(vars, { budget });
    return budget.used;
  };

  it('charge what the same call on variables charges, less the variable reads', () => {
    const folded = costOf("cidr('10.0.0.0/8').containsIP('10.1.2.3')");
    const live = costOf('cidr(a).containsIP(b)', { a: '10.0.0.0/8', b: '10.1.2.3' });
    expect(folded).toBeGreaterThan(0);
    expect(folded).toBe(live - 2);
  });

  it('charge on every iteration of a comprehension, as each call would', () => {
    const once = costOf("quantity('1Gi').isInteger()");
    const perItem = costOf("xs.all(x, quantity('1Gi').isInteger())", { xs: [1, 2, 3] }) - costOf('xs.all(x, true)', { xs: [1, 2, 3] });
    expect(perItem).toBe(3 * once);
  });

  it('still fail at evaluation, with the same error, when the call errors', () => {
    const c = env.compile('1 / 0 == 1');
    const live = env.compile('n / 0 == 1');
    expect(() => c.evaluate({})).toThrow(CelEvalError);
    expect(() => c.evaluate({})).toThrow(((): string => {
      try {
        live.evaluate({ n: 1 });
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    })());
  });

  it('give each evaluation its own list, so no caller can change another evaluation\'s value', () => {
    const c = env.compile("[1, 2].map(x, x) + ['a'.size()]");
    const first = c.evaluate({}) as unknown[];
    first.push(99n);
    expect(c.evaluate({})).toEqual([1n, 2n, 1n]);
  });

  it('are refused at the per-call limit like any other cost', () => {
    const c = env.compile("cidr('10.0.0.0/8').containsIP('10.1.2.3')");
    expect(() => c.evaluate({}, { perCallLimit: 1 })).toThrow(CelCostLimitError);
  });
});
