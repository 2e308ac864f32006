// CEL value -> JSON, for the CLI and reports (issue 3 item 6 gives the mapping).
import {
  CelDuration, CelMap, CelOptional, CelTimestamp, CelTypeValue, CelUint, formatDuration, formatTimestamp, isOpaque,
} from './values.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const SAFE = 2n ** 53n;

function intToJson(v: bigint): Json {
  return v > -SAFE && v < SAFE ? Number(v) : v.toString();
}

export function toJson(v: unknown): Json {
  switch (typeof v) {
    case 'bigint':
      return intToJson(v);
    case 'number':
      if (Number.isNaN(v)) return 'NaN';
      if (v === Infinity) return 'Infinity';
      if (v === -Infinity) return '-Infinity';
      return v;
    case 'string':
    case 'boolean':
      return v;
    case 'object':
      if (v === null) return null;
      if (Array.isArray(v)) return v.map(toJson);
      if (v instanceof CelMap) {
        const o: { [k: string]: Json } = {};
        for (const [k, x] of v.entries()) o[k instanceof CelUint ? k.value.toString() : String(k)] = toJson(x);
        return o;
      }
      if (v instanceof CelUint) return intToJson(v.value);
      if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
      if (v instanceof CelTimestamp) return formatTimestamp(v);
      if (v instanceof CelDuration) return formatDuration(v);
      if (v instanceof CelTypeValue) return v.name;
      if (v instanceof CelOptional) return v.hasValue ? toJson(v.value) : null;
      if (isOpaque(v)) return v.toString();
      return null;
    default:
      return null;
  }
}
