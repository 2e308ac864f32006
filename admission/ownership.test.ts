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
    [
      'a namespace of no team holds nothing',
      request('CREATE', 'Topic', resource('Topic', 't', 'orphan', { kind: 'Team', name: 'payments' })),
      no(
        'NamespaceNotOwned',
        "Topic t: namespace orphan belongs to no team and team payments does not share it; create it in a namespace of team payments (Team spec.namespaces), or have a platform admin add orphan to the Team's spec.sharedNamespaces",
      ),
    ],
    ['a namespace its team shares (Team spec.sharedNamespaces)', request('CREATE', 'Topic', resource('Topic', 't', 'shared', { kind: 'Team', name: 'search' })), ok],
    [
      'a namespace another team shares',
      request('CREATE', 'Topic', resource('Topic', 't', 'shared', { kind: 'Team', name: 'payments' })),
      no(
        'NamespaceNotOwned',
        "Topic t: namespace shared belongs to no team and team payments does not share it; create it in a namespace of team payments (Team spec.namespaces), or have a platform admin add shared to the Team's spec.sharedNamespaces",
      ),
    ],
    ['a namespace the Team lists but its controller has not labelled yet', request('CREATE', 'Application', resource('Application', 'web', 'payments-new', { kind: 'Team', name: 'payments' })), ok],
    [
      'another team listed the namespace, whatever its label says',
      request('CREATE', 'Application', resource('Application', 'web', 'payments-new', { kind: 'Team', name: 'search' })),
      no(
        'CrossTeamOwner',
        'Application web: namespace payments-new belongs to team payments, but this Application belongs to team search through spec.owner Team/search; create it in a namespace of team search or change spec.owner',
      ),
    ],
    ['a namespace a team let go of keeps its label: still that team\'s', request('CREATE', 'Topic', resource('Topic', 't', 'search-old', { kind: 'Team', name: 'search' })), ok],
    [
      'kube-system',
      request('CREATE', 'Topic', resource('Topic', 't', 'kube-system', { kind: 'Team', name: 'payments' })),
      no('ReservedNamespace', 'Topic t: namespace kube-system is a Kubernetes system namespace; KIDP resources live in a namespace of their team'),
    ],
    [
      'the platform namespace',
      request('CREATE', 'Topic', resource('Topic', 't', 'kidp-system', { kind: 'Team', name: 'payments' })),
      no('ReservedNamespace', "Topic t: namespace kidp-system is KIDP's platform namespace; KIDP resources live in a namespace of their team"),
    ],
    ['a Team claiming namespaces of its own', request('CREATE', 'Team', resource('Team', 'new', undefined, undefined, { namespaces: ['new-a', 'new-b'], sharedNamespaces: ['shared'] })), ok],
    [
      'a Team claiming kube-system, the platform namespace, a target namespace and two of other teams',
      request('CREATE', 'Team', resource('Team', 'grabby', undefined, undefined, { namespaces: ['kube-system', 'kidp-system', 'kidp-workloads', 'payments', 'search-old'] })),
      no(
        'NamespaceClaimRefused',
        "Team grabby: spec.namespaces: kube-system is a Kubernetes system namespace; spec.namespaces: kidp-system is KIDP's platform namespace; spec.namespaces: kidp-workloads is where DeploymentTargets prod, prod-eu deploy workloads; spec.namespaces: payments belongs to team payments; spec.namespaces: search-old belongs to team search; a Team claims or shares only namespaces of its own, and none of kube-*, kidp-system or a DeploymentTarget's",
      ),
    ],
    [
      'a Team sharing another team\'s namespace, on update',
      request('UPDATE', 'Team', resource('Team', 'search', undefined, undefined, { namespaces: ['search'], sharedNamespaces: ['payments'] }), { oldObject: resource('Team', 'search', undefined, undefined, { namespaces: ['search'] }) }),
      no('NamespaceClaimRefused', "Team search: spec.sharedNamespaces: payments belongs to team payments; a Team claims or shares only namespaces of its own, and none of kube-*, kidp-system or a DeploymentTarget's"),
    ],
    [
      'a DeploymentTarget into a team namespace',
      request('CREATE', 'DeploymentTarget', resource('DeploymentTarget', 'sneaky', undefined, undefined, { environment: 'production', namespace: 'payments' })),
      no('TargetNamespaceRefused', 'DeploymentTarget sneaky: spec.namespace payments is held by team payments; workloads land in a namespace no team holds'),
    ],
    [
      'a DeploymentTarget into a shared namespace',
      request('CREATE', 'DeploymentTarget', resource('DeploymentTarget', 'sneaky', undefined, undefined, { environment: 'production', namespace: 'shared' })),
      no('TargetNamespaceRefused', 'DeploymentTarget sneaky: spec.namespace shared is held by team search; workloads land in a namespace no team holds'),
    ],
    [
      'a DeploymentTarget into kube-system',
      request('CREATE', 'DeploymentTarget', resource('DeploymentTarget', 'sneaky', undefined, undefined, { environment: 'production', namespace: 'kube-system' })),
      no('TargetNamespaceRefused', 'DeploymentTarget sneaky: spec.namespace kube-system is a Kubernetes system namespace; workloads land in a namespace of their own'),
    ],
    [
      'update re-checks the namespace (admitted before the rules, or the namespace changed hands)',
      request('UPDATE', 'Topic', resource('Topic', 'old', 'orphan', { kind: 'Team', name: 'payments' }, { partitions: 6 }), { oldObject: resource('Topic', 'old', 'orphan', { kind: 'Team', name: 'payments' }, { partitions: 3 }) }),
      no(
        'NamespaceNotOwned',
        "Topic old: namespace orphan belongs to no team and team payments does not share it; create it in a namespace of team payments (Team spec.namespaces), or have a platform admin add orphan to the Team's spec.sharedNamespaces",
      ),
    ],
    [
      'update re-checks the owner exists',
      request('UPDATE', 'Service', resource('Service', 'api', 'payments', { kind: 'Application', name: 'gone' }), { oldObject: resource('Service', 'api', 'payments', { kind: 'Application', name: 'gone' }) }),
      no('OwnerNotFound', 'Service api: spec.owner refers to Application gone, which does not exist in namespace payments; an owning Application must be in the same namespace'),
    ],
    [
      'an object being deleted sheds its finalizers wherever it is',
      request('UPDATE', 'Topic', { ...resource('Topic', 'old', 'orphan', { kind: 'Team', name: 'payments' }), metadata: { name: 'old', namespace: 'orphan', deletionTimestamp: '2026-11-01T00:00:00Z', finalizers: [] } }, {
        oldObject: { ...resource('Topic', 'old', 'orphan', { kind: 'Team', name: 'payments' }), metadata: { name: 'old', namespace: 'orphan', deletionTimestamp: '2026-11-01T00:00:00Z', finalizers: ['platform.kidp.io/cleanup'] } },
      }),
      ok,
    ],
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

  it('refuses a namespace several Teams listed before these rules, naming them', () => {
    const contested = world();
    contested.upsert(resource('Team', 'other', undefined, undefined, { namespaces: ['payments'] }));
    expect(validateOwnership(request('CREATE', 'Topic', resource('Topic', 't', 'payments', { kind: 'Team', name: 'payments' })), contested)).toEqual(
      no('NamespaceContested', 'Topic t: namespace payments is listed in spec.namespaces of several Teams (other, payments); nothing is admitted there until a platform admin leaves it to one'),
    );
  });

  it('forgets what a deleted or changed Team claimed', () => {
    const v = world();
    v.upsert(resource('Team', 'payments', undefined, undefined, { namespaces: ['payments'] }));
    expect(v.teamsClaiming('payments-new')).toEqual([]);
    v.remove(resource('Team', 'search', undefined));
    expect([v.teamsClaiming('search'), v.teamsSharing('shared')]).toEqual([[], []]);
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
