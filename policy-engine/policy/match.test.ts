import { labelSelectorMatches, labelSelectorProblems, nameMatches, resourceTypeOf } from './match.js';
import type { LabelSelector } from './types.js';

describe('resourceTypeOf', () => {
  test.each([
    [{ group: 'platform.kidp.io', kind: 'Database' }, 'Database'],
    [{ group: '', kind: 'Pod' }, 'Pod'],
    [{ group: '', kind: 'Namespace' }, 'Namespace'],
    [{ group: 'apps', kind: 'Deployment' }, 'Deployment.apps'],
    [{ group: 'batch', kind: 'CronJob' }, 'CronJob.batch'],
    // the core Service must not be mistaken for platform.kidp.io's Service
    [{ group: '', kind: 'Service' }, 'Service.core'],
    [{ group: 'platform.kidp.io', kind: 'Service' }, 'Service'],
  ])('%j -> %s', (gvk, want) => {
    expect(resourceTypeOf(gvk)).toBe(want);
  });
});

describe('labelSelectorMatches (Kubernetes semantics)', () => {
  const labels = { environment: 'production', team: 'payments' };
  const cases: [string, LabelSelector | undefined, Record<string, string> | undefined, boolean][] = [
    ['absent selector matches everything', undefined, labels, true],
    ['empty selector matches everything', {}, {}, true],
    ['matchLabels equal', { matchLabels: { environment: 'production' } }, labels, true],
    ['matchLabels differ', { matchLabels: { environment: 'staging' } }, labels, false],
    ['matchLabels missing key', { matchLabels: { tier: 'web' } }, labels, false],
    ['matchLabels against no labels', { matchLabels: { environment: 'production' } }, undefined, false],
    ['In matches', { matchExpressions: [{ key: 'environment', operator: 'In', values: ['staging', 'production'] }] }, labels, true],
    ['In without the key', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] }, labels, false],
    ['NotIn with other value', { matchExpressions: [{ key: 'environment', operator: 'NotIn', values: ['staging'] }] }, labels, true],
    ['NotIn with listed value', { matchExpressions: [{ key: 'environment', operator: 'NotIn', values: ['production'] }] }, labels, false],
    ['NotIn without the key matches', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] }, labels, true],
    ['Exists', { matchExpressions: [{ key: 'team', operator: 'Exists' }] }, labels, true],
    ['Exists missing', { matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, labels, false],
    ['DoesNotExist', { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, labels, true],
    ['DoesNotExist present', { matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] }, labels, false],
    [
      'labels and expressions are ANDed',
      { matchLabels: { team: 'payments' }, matchExpressions: [{ key: 'environment', operator: 'In', values: ['staging'] }] },
      labels,
      false,
    ],
  ];
  test.each(cases)('%s', (_name, selector, actual, want) => {
    expect(labelSelectorMatches(selector, actual)).toBe(want);
  });
});

describe('labelSelectorProblems', () => {
  test('reports each malformed requirement with its path', () => {
    expect(
      labelSelectorProblems(
        {
          matchExpressions: [
            { key: 'a', operator: 'In', values: [] },
            { key: 'b', operator: 'Exists', values: ['x'] },
            { key: '', operator: 'Exists' },
            { key: 'c', operator: 'Equals' as 'In', values: ['x'] },
          ],
        },
        'spec.selector',
      ),
    ).toEqual([
      'spec.selector.matchExpressions[0]: operator In needs at least one value',
      'spec.selector.matchExpressions[1]: operator Exists takes no values',
      'spec.selector.matchExpressions[2].key must be a non-empty string',
      'spec.selector.matchExpressions[3].operator must be one of In, NotIn, Exists, DoesNotExist (got "Equals")',
    ]);
  });
});

describe('nameMatches', () => {
  test.each([
    [['checkout-db'], 'checkout-db', true],
    [['checkout-db'], 'checkout-db-2', false],
    [['checkout-*'], 'checkout-db-2', true],
    [['checkout-*'], 'payments-db', false],
    [['*'], 'anything', true],
  ])('%j vs %s', (patterns, name, want) => {
    expect(nameMatches(patterns, name)).toBe(want);
  });
});
