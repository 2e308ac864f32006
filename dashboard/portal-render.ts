// The portal's pages as HTML, from portal-model.ts's page models (pure). Every value is
// escaped (html.ts); the relationship graph is inline SVG drawn here, so nothing loads from
// the network.
import { kindInfo } from '../crds/registry.js';
import { esc, path } from './html.js';
import {
  CHILD_KINDS,
  type ApplicationPage,
  type Condition,
  type Connection,
  type EventLine,
  type PolicyLine,
  type Ref,
  type ResourceSummary,
  type ResourceView,
  type TeamCost,
  type TeamPage,
  type TeamSummary,
} from './portal-model.js';

export function hrefOf(ref: Ref): string {
  if (ref.kind === 'Team') return path('/portal/teams', ref.name);
  return path('/portal/namespaces', ref.namespace ?? '', kindInfo(ref.kind).plural, ref.name);
}

const link = (ref: Ref, text = ref.name) => `<a href="${esc(hrefOf(ref))}">${esc(text)}</a>`;
const phase = (p: string) => `<span class="phase-${esc(p)}">${esc(p || '—')}</span>`;
const failing = (n: number) => (n > 0 ? `<span class="bad">${n}</span>` : '<span class="ok">0</span>');
const money = (currency: string, n: number) => `${esc(currency)} ${esc(n.toFixed(2))}`;

export function teamsHtml(teams: readonly TeamSummary[]): string {
  if (teams.length === 0) return '<h1>Teams</h1><p data-testid="teams">You may read no Team and no Application of one.</p>';
  const rows = teams
    .map((t) => `<tr><td>${link({ kind: 'Team', name: t.name })}</td><td>${t.readable ? esc(t.displayName) : '<span class="muted">(Team not readable)</span>'}</td><td>${esc(t.costCenter)}</td><td>${phase(t.phase)}</td><td class="num">${t.applications}</td><td class="num">${t.resources}</td><td class="num">${failing(t.failing)}</td></tr>`)
    .join('');
  return `<h1>Teams</h1><table data-testid="teams"><thead><tr><th>team</th><th>display name</th><th>cost center</th><th>phase</th><th>applications</th><th>resources</th><th>failing policy results</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function conditionsTable(cs: readonly Condition[]): string {
  if (cs.length === 0) return '<p data-testid="conditions">No conditions reported.</p>';
  const rows = cs.map((c) => `<tr><td>${esc(c.type)}</td><td class="${c.status === 'True' ? 'ok' : 'bad'}">${esc(c.status)}</td><td>${esc(c.reason)}</td><td>${esc(c.message)}</td><td class="muted">${esc(c.lastTransitionTime)}</td></tr>`).join('');
  return `<table data-testid="conditions"><thead><tr><th>type</th><th>status</th><th>reason</th><th>message</th><th>since</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function policyTable(lines: readonly PolicyLine[] | 'hidden'): string {
  if (lines === 'hidden') return '<p data-testid="policy">You may not read the policy reports that would hold these results.</p>';
  if (lines.length === 0) return '<p data-testid="policy">No policy results (the reports controller has not audited it, or no Policy selects it).</p>';
  const rows = lines
    .map((l) => `<tr><td>${esc(l.policy)}</td><td>${esc(l.rule)}</td><td class="${l.result === 'pass' || l.result === 'skip' ? 'ok' : 'bad'}">${esc(l.result)}</td><td>${esc(l.severity)}</td><td>${l.result === 'pass' || l.result === 'skip' ? '' : esc(l.message)}</td></tr>`)
    .join('');
  return `<table data-testid="policy"><thead><tr><th>policy</th><th>rule</th><th>result</th><th>severity</th><th>to fix</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function eventsTable(events: readonly EventLine[] | 'hidden'): string {
  if (events === 'hidden') return '<p data-testid="events">You may not read Events here.</p>';
  if (events.length === 0) return '<p data-testid="events">No recent events.</p>';
  const rows = events.map((e) => `<tr><td class="muted">${esc(e.time)}</td><td class="${e.type === 'Warning' ? 'bad' : ''}">${esc(e.type)}</td><td>${esc(e.reason)}</td><td>${esc(e.message)}</td><td class="num">${e.count}</td></tr>`).join('');
  return `<table data-testid="events"><thead><tr><th>time</th><th>type</th><th>reason</th><th>message</th><th>count</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function costHtml(cost: TeamCost | 'none' | 'hidden'): string {
  if (cost === 'hidden') return '<p data-testid="cost">You may not read this Team, so not its cost.</p>';
  if (cost === 'none') return '<p data-testid="cost">No usage reported.</p>';
  const centers = cost.byCostCenter.map((b) => `<tr><td>${esc(b.costCenter)}</td><td class="num">${b.resources}</td><td class="num">${money(cost.currency, b.total)}</td></tr>`).join('');
  const top = [...cost.resources].sort((a, b) => b.cost - a.cost);
  const resources = top.map((r) => `<tr><td>${esc(r.kind)}</td><td>${esc(r.namespace)}</td><td>${esc(r.name)}</td><td>${esc(r.priceClass)}</td><td class="num">${esc(r.hours)}</td><td class="num">${money(cost.currency, r.cost)}</td></tr>`).join('');
  return `<div data-testid="cost"><div class="cards"><div class="card">total<br><span class="big" data-testid="cost-total">${money(cost.currency, cost.total)}</span></div><div class="card muted">computed at<br>${esc(cost.computedAt)}</div></div>
<table data-testid="cost-centers"><thead><tr><th>cost center</th><th>resources</th><th>total</th></tr></thead><tbody>${centers}</tbody></table>
<table data-testid="cost-resources"><thead><tr><th>kind</th><th>namespace</th><th>name</th><th>price class</th><th>hours</th><th>cost</th></tr></thead><tbody>${resources}</tbody></table></div>`;
}

/** A table of resources; `withKind` when the rows mix kinds. */
function summaries(caption: string, testId: string, rows: readonly ResourceSummary[], withKind = false): string {
  if (rows.length === 0) return `<h2>${esc(caption)}</h2><p class="muted" data-testid="${esc(testId)}">None.</p>`;
  const body = rows.map((r) => `<tr>${withKind ? `<td>${esc(r.ref.kind)}</td>` : ''}<td>${link(r.ref)}</td><td>${esc(r.ref.namespace ?? '')}</td><td>${phase(r.phase)}</td><td>${esc(r.ready)}</td><td class="num">${failing(r.failing)}</td></tr>`).join('');
  return `<h2>${esc(caption)}</h2><table data-testid="${esc(testId)}"><thead><tr>${withKind ? '<th>kind</th>' : ''}<th>name</th><th>namespace</th><th>phase</th><th>ready</th><th>failing policy results</th></tr></thead><tbody>${body}</tbody></table>`;
}

export function teamHtml(p: TeamPage): string {
  const t = p.team;
  const head = t.readable
    ? `<p>${esc(t.displayName)} · cost center <code>${esc(t.costCenter)}</code> · phase ${phase(t.phase)}</p>`
    : '<p class="muted" data-testid="team-hidden">You may list this team’s Applications but not read the Team object: its members, conditions and cost stay hidden.</p>';
  const members = p.members.map((m) => `<tr><td>${esc(m.kind)}</td><td>${esc(m.name)}</td><td>${esc(m.role)}</td></tr>`).join('');
  const apps = p.applications
    .map((a) => `<tr><td>${link(a.ref)}</td><td>${esc(a.ref.namespace ?? '')}</td><td>${phase(a.phase)}</td>${CHILD_KINDS.map((k) => `<td class="num">${a.counts[k]}</td>`).join('')}<td class="num">${failing(a.failing)}</td></tr>`)
    .join('');
  return `<h1>Team ${esc(t.name)}</h1>${head}
${t.readable ? `<h2>Members</h2><table data-testid="members"><thead><tr><th>kind</th><th>name</th><th>role</th></tr></thead><tbody>${members}</tbody></table><p>Namespaces: ${p.namespaces.map((n) => `<code>${esc(n)}</code>`).join(' ') || '<span class="muted">none</span>'}</p><h2>Conditions</h2>${conditionsTable(p.conditions)}` : ''}
<h2>Cost</h2>${costHtml(p.cost)}
<h2>Applications (${p.applications.length})</h2>${p.applications.length === 0 ? '<p data-testid="applications">None you may list.</p>' : `<table data-testid="applications"><thead><tr><th>application</th><th>namespace</th><th>phase</th>${CHILD_KINDS.map((k) => `<th>${esc(kindInfo(k).plural)}</th>`).join('')}<th>failing policy results</th></tr></thead><tbody>${apps}</tbody></table>`}
${summaries('Owned by the team directly', 'direct', p.direct, true)}
${t.readable ? `<h2>Policy results</h2>${policyTable(p.policy)}<h2>Recent events</h2>${eventsTable(p.events)}` : ''}`;
}

/** The selector edges as an SVG: selecting resources on the left, what they select on the right. */
export function graphSvg(nodes: readonly ResourceSummary[], edges: readonly Connection[]): string {
  if (nodes.length === 0) return '<p data-testid="graph">No resources.</p>';
  const id = (r: Ref) => `${r.kind}/${r.namespace ?? ''}/${r.name}`;
  const sources = new Set(edges.map((e) => id(e.from)));
  const targets = new Set(edges.map((e) => id(e.to)));
  const left = nodes.filter((n) => sources.has(id(n.ref)) || (n.ref.kind === 'Service' && !targets.has(id(n.ref))));
  const right = nodes.filter((n) => !left.includes(n));
  const W = 260;
  const H = 40;
  const GAP = 14;
  const X2 = 480;
  const pos = new Map<string, { x: number; y: number }>();
  left.forEach((n, i) => pos.set(id(n.ref), { x: 0, y: i * (H + GAP) }));
  right.forEach((n, i) => pos.set(id(n.ref), { x: X2, y: i * (H + GAP) }));
  const height = Math.max(left.length, right.length) * (H + GAP);
  const color = (p: string) => (p === 'Ready' ? '#1e7b34' : p === 'Failed' ? '#b3261e' : '#8a5a00');
  const lines = edges
    .map((e) => {
      const a = pos.get(id(e.from));
      const b = pos.get(id(e.to));
      if (!a || !b) return '';
      const x1 = a.x + W;
      const y1 = a.y + H / 2;
      const x2 = b.x;
      const y2 = b.y + H / 2;
      return `<path class="edge" d="M${x1},${y1} C${x1 + 90},${y1} ${x2 - 90},${y2} ${x2},${y2}" fill="none" stroke="#2851c8" stroke-width="1.6" marker-end="url(#arrow)"><title>${esc(`${e.from.kind} ${e.from.name} ${e.field} → ${e.to.kind} ${e.to.name}`)}</title></path>`;
    })
    .join('');
  const boxes = nodes
    .map((n) => {
      const p = pos.get(id(n.ref))!;
      const label = n.ref.name.length > 30 ? `${n.ref.name.slice(0, 29)}…` : n.ref.name;
      return `<a href="${esc(hrefOf(n.ref))}"><g class="node" data-node="${esc(id(n.ref))}"><rect x="${p.x}" y="${p.y}" width="${W}" height="${H}" rx="6" fill="#f7f8fb" stroke="${color(n.phase)}" stroke-width="1.5"/><text x="${p.x + 10}" y="${p.y + 16}" font-size="11" fill="#5a6275">${esc(n.ref.kind)} · ${esc(n.phase)}</text><text x="${p.x + 10}" y="${p.y + 32}" font-size="13" fill="#1d2330">${esc(label)}</text></g></a>`;
    })
    .join('');
  return `<figure data-testid="graph" data-nodes="${nodes.length}" data-edges="${edges.length}"><svg width="${X2 + W + 4}" height="${height + 4}" viewBox="-2 -2 ${X2 + W + 4} ${height + 4}" role="img" aria-label="connections from label selectors"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#2851c8"/></marker></defs>${lines}${boxes}</svg><figcaption class="muted">${edges.length} connection${edges.length === 1 ? '' : 's'} from label selectors</figcaption></figure>`;
}

function chainHtml(chain: readonly Ref[], self: Ref): string {
  return `<p class="chain" data-testid="owner-chain">${[...chain.map((r) => `${esc(r.kind)} ${link(r)}`), `${esc(self.kind)} <strong>${esc(self.name)}</strong>`].join(' → ')}</p>`;
}

function resourceHeader(v: ResourceView): string {
  return `<h1>${esc(v.ref.kind)} ${esc(v.ref.name)}</h1>${chainHtml(v.ownerChain, v.ref)}<p>namespace <code>${esc(v.ref.namespace ?? '')}</code> · phase <strong data-testid="phase">${phase(v.phase)}</strong></p>`;
}

function kv(testId: string, map: Record<string, string>): string {
  const entries = Object.entries(map).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return `<p class="muted" data-testid="${esc(testId)}">None.</p>`;
  return `<table data-testid="${esc(testId)}"><tbody>${entries.map(([k, v]) => `<tr><td><code>${esc(k)}</code></td><td>${esc(v)}</td></tr>`).join('')}</tbody></table>`;
}

export function applicationHtml(p: ApplicationPage): string {
  const v = p.app;
  return `${resourceHeader(v)}
<h2>Connections</h2>${graphSvg(p.graph.nodes, p.graph.edges)}
${CHILD_KINDS.map((k) => summaries(`${kindInfo(k).plural[0]!.toUpperCase()}${kindInfo(k).plural.slice(1)} (${p.children[k].length})`, kindInfo(k).plural, p.children[k])).join('\n')}
<h2>Conditions</h2>${conditionsTable(v.conditions)}
<h2>Policy results</h2>${policyTable(v.policy)}
<h2>Recent events</h2>${eventsTable(v.events)}`;
}

export function resourceHtml(v: ResourceView): string {
  const id = (r: Ref) => `${r.kind}/${r.namespace ?? ''}/${r.name}`;
  const nodes = new Map<string, ResourceSummary>();
  const add = (r: Ref, ph: string) => nodes.set(id(r), { ref: r, phase: ph, ready: '', failing: 0 });
  add(v.ref, v.phase);
  // Outgoing edges carry the target's phase; a selecting resource's phase is not in the edge.
  for (const c of v.connections) if (id(c.from) === id(v.ref)) add(c.to, c.phase);
  else add(c.from, '');
  const list = v.connections.map((c) => `<li>${esc(c.from.kind)} ${link(c.from)} <code>${esc(c.field)}</code> → ${esc(c.to.kind)} ${link(c.to)}</li>`).join('');
  return `${resourceHeader(v)}
<h2>Conditions</h2>${conditionsTable(v.conditions)}
<h2>Connections</h2>${v.connections.length ? graphSvg([...nodes.values()], v.connections) : ''}<ul data-testid="connections">${list}${v.unmatched.map((u) => `<li class="muted">${esc(u)} selects nothing you may see</li>`).join('')}</ul>${v.connections.length === 0 && v.unmatched.length === 0 ? '<p class="muted">No label selectors point from or to it.</p>' : ''}
<h2>Policy results</h2>${policyTable(v.policy)}
<h2>Recent events</h2>${eventsTable(v.events)}
<h2>Labels</h2>${kv('labels', v.labels)}
<h2>Annotations</h2>${kv('annotations', v.annotations)}
<h2>Spec</h2><pre data-testid="spec">${esc(JSON.stringify(v.spec, null, 2))}</pre>`;
}
