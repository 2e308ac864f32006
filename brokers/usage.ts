// Usage for cost attribution (issue 15 item 6): what a provisioned resource costs, as the
// broker reports it in its status events (`outputs.usage`) and the Team reconciler sums by
// cost center. The prices are a configurable table (`kidp broker run --price-table FILE`),
// data and nothing else: they are NOT fetched from AWS or anyone's price list, and the
// defaults below are illustrative figures an operator replaces with their own.
import { readFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import type { Usage } from './contract.js';

/** One price class: a fixed hourly rate, plus a rate per GiB stored per hour where size matters. */
export interface Price {
  /** USD per hour. */
  hourly: number;
  /** USD per GiB per hour (storage); 0 or absent when the class is not priced by size. */
  perGiBHourly?: number;
}

export type PriceTable = Readonly<Record<string, Price>>;

/**
 * Illustrative defaults, in USD, roughly the order of magnitude of list prices in 2026 for
 * the shared services and the smallest AWS classes, so the figures are plausible. Not a
 * quote and not kept up to date: replace them with `--price-table`.
 */
export const DEFAULT_PRICES: PriceTable = {
  // Shared services (the postgresql, redis and kubernetes/Kafka providers): an internal rate.
  'postgresql-shared': { hourly: 0.005, perGiBHourly: 0.0002 },
  'redis-shared': { hourly: 0.004 },
  'kafka-shared': { hourly: 0.003 },
  // AWS RDS instance classes (storage at gp3's rate per GiB-month / 730 h).
  'db.t3.micro': { hourly: 0.018, perGiBHourly: 0.000158 },
  'db.t3.small': { hourly: 0.036, perGiBHourly: 0.000158 },
  'db.t3.medium': { hourly: 0.072, perGiBHourly: 0.000158 },
  'db.m5.large': { hourly: 0.178, perGiBHourly: 0.000158 },
  // AWS ElastiCache node types, per node.
  'cache.t3.micro': { hourly: 0.017 },
  'cache.t4g.micro': { hourly: 0.016 },
  'cache.t3.small': { hourly: 0.034 },
  'cache.m5.large': { hourly: 0.156 },
  // SQS is priced per request, which the broker does not see; the queue itself is free.
  'sqs-standard': { hourly: 0 },
};

/** The bounds the protocol enforces (protocol.ts): anything past them did not come from an honest broker. */
export const USAGE_LIMITS = {
  /** 1 PiB. */
  sizeGiB: 1_048_576,
  /** A century of hours. */
  hours: 876_000,
  /** USD per hour; the largest AWS instances are under 1000. */
  hourlyRate: 10_000,
  cost: 1e10,
} as const;

/** How far `cost` may differ from `hours × hourlyRate` (rounding of the three figures). */
export const COST_TOLERANCE = 1e-6;

const PRICE_TABLE_SCHEMA = {
  type: 'object',
  maxProperties: 1000,
  propertyNames: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9.-]*$' },
  additionalProperties: {
    type: 'object',
    additionalProperties: false,
    required: ['hourly'],
    properties: {
      hourly: { type: 'number', minimum: 0, maximum: USAGE_LIMITS.hourlyRate },
      perGiBHourly: { type: 'number', minimum: 0, maximum: 1 },
    },
  },
} as const;
const validatePrices = new Ajv({ allErrors: true, strict: true }).compile(PRICE_TABLE_SCHEMA);

/** A price table from JSON text (`{"db.t3.micro": {"hourly": 0.018, "perGiBHourly": 0.000158}, ...}`), refused whole when any entry is wrong. */
export function parsePriceTable(text: string, where = 'price table'): PriceTable {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new Error(`${where} is not JSON: ${(cause as Error).message}`, { cause });
  }
  if (!validatePrices(json)) {
    const problems = (validatePrices.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`);
    throw new Error(`${where} is not a price table (class → {hourly, perGiBHourly?} in USD): ${problems.join('; ')}`);
  }
  return json as PriceTable;
}

export async function loadPriceTable(file: string): Promise<PriceTable> {
  return parsePriceTable(await readFile(file, 'utf8'), file);
}

/** What a provider measured about a resource; the runtime prices it (usageFor). */
export interface UsageMeasure {
  priceClass: string;
  sizeGiB?: number;
  /** When the resource started to cost (RFC 3339), if the provider knows (RDS InstanceCreateTime); else the runtime's own record. */
  since?: string;
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * The usage figures of a resource at `now`: hours since `since`, the class's rate (fixed plus
 * per GiB) and cost = hours × rate. Undefined when the class is not in the table (nothing is
 * invented; the broker logs it).
 */
export function usageFor(measure: UsageMeasure & { since: string }, now: Date, prices: PriceTable): Usage | undefined {
  const price = Object.hasOwn(prices, measure.priceClass) ? prices[measure.priceClass] : undefined;
  if (!price) return undefined;
  const started = Date.parse(measure.since);
  const hours = Number.isFinite(started) ? round(Math.min(USAGE_LIMITS.hours, Math.max(0, (now.getTime() - started) / 3_600_000)), 4) : 0;
  const size = measure.sizeGiB !== undefined && Number.isFinite(measure.sizeGiB) ? round(Math.min(USAGE_LIMITS.sizeGiB, Math.max(0, measure.sizeGiB)), 4) : undefined;
  const hourlyRate = round(price.hourly + (price.perGiBHourly ?? 0) * (size ?? 0), 6);
  return { priceClass: measure.priceClass, ...(size !== undefined ? { sizeGiB: size } : {}), hours, hourlyRate, cost: round(hours * hourlyRate, 6) };
}

/** The check JSON Schema cannot state: the cost is the product of the other two figures. */
export function usageProblem(usage: Usage): string | undefined {
  const expected = usage.hours * usage.hourlyRate;
  if (Math.abs(usage.cost - expected) > COST_TOLERANCE * Math.max(1, expected)) return `/outputs/usage/cost ${usage.cost} is not hours × hourlyRate (${expected})`;
  return undefined;
}
