import { compilePolicy, type CompiledPolicy } from './compile.js';
import { evaluatePolicy, PARAMS_RULE } from './evaluate.js';
import { MemoryParamSource } from './params.js';
import { syntheticRequest } from './request.js';
import { PolicyCompileError, PolicyInvalidError } from './errors.js';
import type { KubeObject, Policy } from './types.js';

const now = new Date('2026-06-01T00:00:00Z');

function policy(spec: Partial<Policy['spec']>): CompiledPolicy {
  return compilePolicy({
    apiVersion: 'platform.kidp.io/v1alpha1',
    kind: 'Policy',
    metadata: { name: 'replicas' },
    spec: {
      mode: 'Enforce',
      selector: { resourceTypes: ['Deployment.apps'] },
      paramKind: { apiVersion: 'v1', kind: 'ConfigMap' },
      rules: [{ name: 'max', expression: 'object.spec.replicas <= int(params.data.maxReplicas)', messageExpression: "'at most ' + params.data.maxReplicas + ' replicas'" }],
      ...spec,
    },
  });
}

function deployment(replicas: number, namespace = 'shop'): KubeObject {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace }, spec: { replicas } };
}

function configMap(name: string, namespace: string, maxReplicas: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels }, data: { maxReplicas } };
}

const limits = new MemoryParamSource([configMap('limits', 'shop', '3', { tier: 'a' }), configMap('limits', 'other', '10'), configMap('strict', 'shop', '1', { tier: 'a' })]);

function run(p: CompiledPolicy, object: KubeObject, params = limits) {
  return evaluatePolicy(p, { request: syntheticRequest(object) }, { now, params });
}

describe('params (paramKind / paramRef)', () => {
  it('binds the named object of the request namespace, and its values decide', () => {
    const p = policy({ paramRef: { name: 'limits' } });
    expect(run(p, deployment(3))).toEqual({ policy: 'replicas', mode: 'Enforce', applied: true, rules: [{ rule: 'max', result: 'pass', severity: 'medium' }] });
    expect(run(p, deployment(4))).toEqual({
      policy: 'replicas',
      mode: 'Enforce',
      applied: true,
      rules: [{ rule: 'max', result: 'fail', severity: 'medium', message: 'at most 3 replicas' }],
    });
    // Another namespace's object of the same name is its own parameter.
    expect(run(p, deployment(4, 'other'))).toMatchObject({ rules: [{ rule: 'max', result: 'pass' }] });
  });

  it('paramRef.namespace fixes where the object is looked up', () => {
    const p = policy({ paramRef: { name: 'limits', namespace: 'other' } });
    expect(run(p, deployment(4))).toMatchObject({ rules: [{ rule: 'max', result: 'pass' }] });
    expect(run(p, deployment(11))).toMatchObject({ rules: [{ rule: 'max', result: 'fail', message: 'at most 10 replicas' }] });
  });

  it('a missing object denies by default and with Deny, naming what is missing; Allow skips the Policy', () => {
    const missing = {
      policy: 'replicas',
      mode: 'Enforce',
      applied: true,
      rules: [
        {
          rule: PARAMS_RULE,
          result: 'error',
          severity: 'high',
          message: 'params: no ConfigMap (v1) named nope in namespace shop (parameterNotFoundAction: Deny): create it or fix spec.paramRef',
        },
      ],
    };
    expect(run(policy({ paramRef: { name: 'nope' } }), deployment(1))).toEqual(missing);
    expect(run(policy({ paramRef: { name: 'nope', parameterNotFoundAction: 'Deny' } }), deployment(1))).toEqual(missing);
    expect(run(policy({ paramRef: { name: 'nope', parameterNotFoundAction: 'Allow' } }), deployment(1))).toEqual({
      policy: 'replicas',
      mode: 'Enforce',
      applied: false,
      reason: 'params: no ConfigMap (v1) named nope in namespace shop (parameterNotFoundAction: Allow)',
    });
  });

  it('a selector binds every matching object; each must pass, a failure names its object', () => {
    const p = policy({ paramRef: { selector: { matchLabels: { tier: 'a' } } } });
    expect(run(p, deployment(1))).toMatchObject({ rules: [{ rule: 'max', result: 'pass' }] });
    expect(run(p, deployment(2))).toMatchObject({ rules: [{ rule: 'max', result: 'fail', message: 'params shop/strict: at most 1 replicas' }] });
    expect(run(policy({ paramRef: { selector: { matchLabels: { tier: 'z' } }, parameterNotFoundAction: 'Allow' } }), deployment(9))).toMatchObject({ applied: false });
  });

  it('params is null with a paramKind and no paramRef, as a VAP binding without paramRef', () => {
    const p = policy({ rules: [{ name: 'null', expression: 'params == null' }] });
    expect(run(p, deployment(1))).toMatchObject({ applied: true, rules: [{ rule: 'null', result: 'pass' }] });
  });

  it('params is undeclared without a paramKind, as in VAP', () => {
    expect(() => policy({ paramKind: undefined as never })).toThrow(PolicyCompileError);
    expect(() => policy({ paramKind: undefined as never })).toThrow(/undeclared reference to 'params'/);
  });

  it('refuses inconsistent references when the Policy is written', () => {
    expect(() => policy({ paramKind: undefined as never, paramRef: { name: 'x' }, rules: [{ name: 'r', expression: 'true' }] })).toThrow(PolicyInvalidError);
    expect(() => policy({ paramRef: { name: 'x', selector: {} } })).toThrow('spec.paramRef needs exactly one of name or selector');
    expect(() => policy({ paramRef: {} })).toThrow('spec.paramRef needs exactly one of name or selector');
  });

  it('scope errors fail closed: a namespace for a cluster-scoped kind, a cluster-scoped request with a namespaced kind', () => {
    const clusterScoped = new MemoryParamSource([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'limits' }, data: { maxReplicas: '3' } }], new Map([['v1/ConfigMap', false]]));
    expect(run(policy({ paramRef: { name: 'limits', namespace: 'shop' } }), deployment(1), clusterScoped)).toMatchObject({
      rules: [{ rule: PARAMS_RULE, result: 'error', message: 'params: paramRef.namespace must not be set: ConfigMap (v1) is cluster-scoped' }],
    });
    const clusterRequest = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 1 } };
    expect(run(policy({ paramRef: { name: 'limits' } }), clusterRequest)).toMatchObject({
      rules: [{ rule: PARAMS_RULE, result: 'error', message: 'params: ConfigMap (v1) is namespaced and this request is cluster-scoped: set paramRef.namespace' }],
    });
  });

  it('with no source of param objects, the Policy fails closed and says so', () => {
    const p = policy({ paramRef: { name: 'limits' } });
    expect(evaluatePolicy(p, { request: syntheticRequest(deployment(1)) }, { now })).toMatchObject({
      rules: [{ rule: PARAMS_RULE, result: 'error', message: 'params: no source of ConfigMap (v1) objects is configured' }],
    });
  });

  it('a hostile param object is data: a rule erroring on it fails closed', () => {
    const hostile = new MemoryParamSource([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'limits', namespace: 'shop' }, data: { maxReplicas: '1e999; drop' } }]);
    expect(run(policy({ paramRef: { name: 'limits' } }), deployment(1), hostile)).toMatchObject({ rules: [{ rule: 'max', result: 'error' }] });
  });
});
