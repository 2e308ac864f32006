import { createEnvironment, types, CelCostLimitError } from '../../policy-engine/cel/index.js';
const env = createEnvironment({ variables: { object: types.fromOpenApiSchema({ type: 'object', properties: { spec: { type: 'object', properties: { replicas: { type: 'integer' }, items: { type: 'array', maxItems: 10, items: { type: 'string', maxLength: 20 } }, tags: { type: 'array', items: { type: 'string' } } } } } }) } });
const l = 'lists.range(1000)';
const src = `${l}.all(x, ${l}.all(y, ${l}.all(z, true)))`;
const c = env.compile(src);
console.log('estimate', c.estimatedCost);
const t0 = Date.now();
try { c.evaluate({ object: {} }); } catch (e) { console.log(e instanceof CelCostLimitError, (e as Error).message, Date.now() - t0, 'ms'); }
const big = Array.from({ length: 1000 }, (_, i) => i);
const c2 = createEnvironment({ variables: { l: types.list(types.int) } }).compile('l.all(x, l.all(y, l.all(z, true)))');
const t1 = Date.now();
try { c2.evaluate({ l: big }); } catch (e) { console.log(e instanceof CelCostLimitError, (e as Error).message, Date.now() - t1, 'ms', 'est', c2.estimatedCost); }
for (const e of ["object.spec.replicas == 'x'", 'object.spec.replicaz > 1', 'object.spec.items.all(i, i.startsWith("a"))', 'object.spec.tags.all(i, i.startsWith("a"))']) {
  try { const x = env.compile(e); console.log(e, x.estimatedCost); } catch (err) { console.log(e, (err as Error).message); }
}
const budget = { used: 0, limit: 10_000_000 };
const c3 = createEnvironment({ variables: {} }).compile('lists.range(1000).map(x, lists.range(900).map(y, y)).size() > 0');
for (let i = 0; i < 20; i++) { try { c3.evaluate({}, { budget }); } catch (e) { console.log('budget', i, budget.used, (e as Error).message); break; } }
