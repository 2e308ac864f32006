import { DEFAULT_PRICES, parsePriceTable, usageFor, usageProblem } from './usage.js';

describe('usageFor', () => {
  const now = new Date('2026-03-01T12:00:00Z');
  it.each([
    ['an RDS class with storage: fixed plus per-GiB rate', { priceClass: 'db.t3.micro', sizeGiB: 20, since: '2026-03-01T02:00:00Z' }, { priceClass: 'db.t3.micro', sizeGiB: 20, hours: 10, hourlyRate: 0.02116, cost: 0.2116 }],
    ['a shared class without size', { priceClass: 'redis-shared', since: '2026-03-01T11:30:00Z' }, { priceClass: 'redis-shared', hours: 0.5, hourlyRate: 0.004, cost: 0.002 }],
    ['a start in the future counts no hours', { priceClass: 'redis-shared', since: '2026-03-02T00:00:00Z' }, { priceClass: 'redis-shared', hours: 0, hourlyRate: 0.004, cost: 0 }],
    ['an unparseable start counts no hours', { priceClass: 'kafka-shared', since: 'whenever' }, { priceClass: 'kafka-shared', hours: 0, hourlyRate: 0.003, cost: 0 }],
  ] as const)('%s', (_name, measure, expected) => {
    const usage = usageFor(measure, now, DEFAULT_PRICES);
    expect({ usage, problem: usage && usageProblem(usage) }).toEqual({ usage: expected, problem: undefined });
  });

  it('prices nothing it has no price for, and no inherited property counts as a class', () => {
    expect([usageFor({ priceClass: 'db.x99.huge', since: '2026-03-01T00:00:00Z' }, now, DEFAULT_PRICES), usageFor({ priceClass: 'constructor', since: '2026-03-01T00:00:00Z' }, now, DEFAULT_PRICES)]).toEqual([undefined, undefined]);
  });

  it('uses the configured table, not the defaults', () => {
    const prices = parsePriceTable('{"db.t3.micro": {"hourly": 1}}');
    expect(usageFor({ priceClass: 'db.t3.micro', sizeGiB: 20, since: '2026-03-01T10:00:00Z' }, now, prices)).toEqual({ priceClass: 'db.t3.micro', sizeGiB: 20, hours: 2, hourlyRate: 1, cost: 2 });
  });
});

describe('parsePriceTable', () => {
  it.each([
    ['not JSON', '{', /^t is not JSON: /],
    ['a negative rate', '{"a": {"hourly": -1}}', /^t is not a price table \(class → \{hourly, perGiBHourly\?\} in USD\): \/a\/hourly must be >= 0$/],
    ['an unknown field', '{"a": {"hourly": 1, "currency": "EUR"}}', /must NOT have additional properties$/],
    ['a class name that is not plain', '{"A B": {"hourly": 1}}', /must match pattern/],
  ])('refuses %s', (_name, text, message) => {
    expect(() => parsePriceTable(text, 't')).toThrow(message);
  });
});
