import { validateOwnership } from './ownership.js';
import { MemoryView } from './memory-view.js';
import { request, resource, world } from './testdata.js';
import type { Decision } from './decision.js';

const ok: Decision = { allowed: true, warnings: [], auditAnnotations: {} };
const no = (reason: string, message: string): Decision => ({ allowed: false, code: 403, reason, message, warnings: [], auditAnnotations: {} });

describe('ownership at admission', () => {
  const view = world();
  const cases: [string, Parameters<typeof validateOwnership>[0], Decision][] = [
    ['application owned by an existing team, in its namespace', request('CREATE', 'Application', resource('Application', 'web', 'payments', { kind: 'Team', name: 'payments' })), ok],
    ['service owned by an application of the same namespace', request('CREATE', 'Service', resource('Service', 'api', 'payments', { kind: 'Application', name: 'checkout' })), ok],
    ['database owned by a team directly', request('CREATE', 'Database', resource('Database', 'db2', 'payments', { kind: 'Team', name: 'payments' })), ok],
    ['a namespace of no team holds any team', request('CREATE', 'Topic', resource('Topic', 't', 'shared', { kind: 'Team', name: 'payments' })), ok],
    ['team: no owner rules', request('CREATE', 'Team', resource('Team', 'new', undefined)), ok],
    [
      'missing owner',
      request('CREATE', 'Service', resource('Service', 'api', 'payments')),
      no('OwnerMissing', 'Service api: spec.owner is required: set spec.owner.kind (Application) and spec.owner.name'),
    ],
    [
      'owner of a kind not allowed',
      request('CREATE', 'Service', resource('Service', 'api', 'payments', { kind: 'Team', name: 'payments' })),
      no('OwnerKindNotAllowed', 'Service api: spec.owner.kind Team is not allowed; a Service is owned by an Application'),
    ],
    [
      'team that does not exist',
      request('CREATE', 'Application', resource('Application', 'web', 'payments', { kind: 'Team', name: 'ghost' })),
      no('OwnerNotFound', 'Application web: spec.owner refers to Team ghost, which does not exist; create the Team first or fix spec.owner.name'),
    ],
    [
      'application in another namespace',
      request('CREATE', 'Service', resource('Service', 'api', 'payments', { kind: 'Application', name: 'indexer' })),
      no('OwnerNotFound', 'Service api: spec.owner refers to Application indexer, which does not exist in namespace payments; an owning Application must be in the same namespace'),
    ],
    [
      'cross-team owner in a team namespace',
      request('CREATE', 'Application', resource('Application', 'web', 'payments', { kind: 'Team', name: 'search' })),
      no(
        'CrossTeamOwner',
        'Application web: namespace payments belongs to team payments, but this Application belongs to team search through spec.owner Team/search; create it in a namespace of team search or change spec.owner',
      ),
    ],
    [
      'owner changed on update',
      request('UPDATE', 'Topic', resource('Topic', 'events', 'payments', { kind: 'Application', name: 'checkout' }), {
        oldObject: resource('Topic', 'events', 'payments', { kind: 'Team', name: 'payments' }),
      }),
      no('OwnerImmutable', 'Topic events: spec.owner is immutable (was Team/payments, now Application/checkout); to move it, delete the Topic and create it again under the new owner'),
    ],
    [
      'other fields changed on update',
      request('UPDATE', 'Topic', resource('Topic', 'events', 'payments', { kind: 'Team', name: 'payments' }, { partitions: 6 }), {
        oldObject: resource('Topic', 'events', 'payments', { kind: 'Team', name: 'payments' }, { partitions: 3 }),
      }),
      ok,
    ],
    [
      'deleting a team that owns resources',
      request('DELETE', 'Team', undefined, { name: 'payments', oldObject: resource('Team', 'payments', undefined) }),
      no('OwnerHasDependents', 'Team payments still owns 2 resources: Application payments/checkout, Topic payments/events; delete or re-create them under another owner first'),
    ],
    [
      'deleting an application that owns resources',
      request('DELETE', 'Application', undefined, { name: 'checkout', namespace: 'payments' }),
      no('OwnerHasDependents', 'Application checkout still owns 1 resource: Database payments/db; delete or re-create them under another owner first'),
    ],
    ['deleting a team that owns nothing', request('DELETE', 'Team', undefined, { name: 'newteam' }), ok],
  ];
  it.each(cases)('%s', (_name, req, expected) => {
    expect(validateOwnership(req, view)).toEqual(expected);
  });

  it('does not call an owner missing when the view is partial (standalone files)', () => {
    const partial = new MemoryView(false);
    expect(validateOwnership(request('CREATE', 'Application', resource('Application', 'web', 'x', { kind: 'Team', name: 'elsewhere' })), partial)).toEqual(ok);
  });

  it('leaves kinds of other groups alone', () => {
    const req = request('CREATE', 'Service', resource('Service', 'x', 'payments'));
    expect(validateOwnership({ ...req, kind: { group: '', version: 'v1', kind: 'Service' } }, view)).toEqual(ok);
  });
});
