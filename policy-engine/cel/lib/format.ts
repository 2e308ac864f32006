// The Kubernetes format library (k8s.io/apiserver pkg/cel/library/format.go, base
// environment from 1.31): format.<name>() and format.named(name) give a named format, and
// <format>.validate(s) returns optional.none() when s is valid, else optional.of(the
// messages apimachinery's validation gives). Messages are apimachinery v0.37.2's, word
// for word (pkg/util/validation, pkg/api/validate/content), since policies show them.
import { BOOL, STRING, listOf, opaque, optionalOf } from '../types.js';
import { CelOptional, type CelOpaque } from '../values.js';
import type { Registry } from './registry.js';

export const FORMAT_TYPE = opaque('kubernetes.NamedFormat');

export class NamedFormat implements CelOpaque {
  readonly celType = 'kubernetes.NamedFormat';
  constructor(
    readonly name: string,
    readonly validate: (s: string) => string[],
  ) {}
  equals(other: unknown): boolean {
    return other instanceof NamedFormat && other.name === this.name;
  }
  toString(): string {
    return this.name;
  }
}

function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`;
  return `${msg} (e.g. ${examples.map((e) => `'${e}', `).join(' or ')}regex used for validation is '${fmt}')`;
}
const maxLenError = (n: number): string => `must be no more than ${n} characters`;
const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');

const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_LABEL_MSG = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT = `${DNS1123_LABEL_FMT}(\\.${DNS1123_LABEL_FMT})*`;
const DNS1123_SUBDOMAIN_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT = '[a-z]([-a-z0-9]*[a-z0-9])?';
const DNS1035_LABEL_MSG = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const LABEL_KEY_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const LABEL_KEY_MSG = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT = `(${LABEL_KEY_FMT})?`;
const LABEL_VALUE_MSG = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

// Fixed, linear patterns (no nested unbounded repetition over the same characters).
const dns1123Label = new RegExp(`^${DNS1123_LABEL_FMT}$`);
const dns1123Subdomain = new RegExp(`^${DNS1123_SUBDOMAIN_FMT}$`);
const dns1035Label = new RegExp(`^${DNS1035_LABEL_FMT}$`);
const labelKey = new RegExp(`^${LABEL_KEY_FMT}$`);
const labelValue = new RegExp(`^${LABEL_VALUE_FMT}$`);

function isDNS1123Label(v: string): string[] {
  const errs: string[] = [];
  if (byteLength(v) > 63) errs.push(maxLenError(63));
  if (!dns1123Label.test(v)) {
    if (dns1123Subdomain.test(v)) errs.push('must not contain dots');
    else errs.push(regexError(DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, 'my-name', '123-abc'));
  }
  return errs;
}
function isDNS1123Subdomain(v: string): string[] {
  const errs: string[] = [];
  if (byteLength(v) > 253) errs.push(maxLenError(253));
  if (!dns1123Subdomain.test(v)) errs.push(regexError(DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, 'example.com'));
  return errs;
}
function isDNS1035Label(v: string): string[] {
  const errs: string[] = [];
  if (byteLength(v) > 63) errs.push(maxLenError(63));
  if (!dns1035Label.test(v)) errs.push(regexError(DNS1035_LABEL_MSG, DNS1035_LABEL_FMT, 'my-name', 'abc-123'));
  return errs;
}
/** apimachinery maskTrailingDash: a generateName prefix may end in '-'. */
function maskTrailingDash(s: string): string {
  return byteLength(s) > 1 && s.endsWith('-') ? `${s.slice(0, -2)}a` : s;
}
function isQualifiedName(v: string): string[] {
  const errs: string[] = [];
  const parts = v.split('/');
  let name: string;
  if (parts.length === 1) name = parts[0] as string;
  else if (parts.length === 2) {
    const prefix = parts[0] as string;
    name = parts[1] as string;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else errs.push(...isDNS1123Subdomain(prefix).map((m) => `prefix part ${m}`));
  } else {
    return [`a valid label key ${regexError(LABEL_KEY_MSG, LABEL_KEY_FMT, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (byteLength(name) > 63) errs.push(`name part ${maxLenError(63)}`);
  if (!labelKey.test(name)) errs.push(`name part ${regexError(LABEL_KEY_MSG, LABEL_KEY_FMT, 'MyName', 'my.name', '123-abc')}`);
  return errs;
}
function isLabelValue(v: string): string[] {
  const errs: string[] = [];
  if (byteLength(v) > 63) errs.push(maxLenError(63));
  if (!labelValue.test(v)) errs.push(regexError(LABEL_VALUE_MSG, LABEL_VALUE_FMT, 'MyValue', 'my_value', '12345'));
  return errs;
}

/** Go's url.ParseRequestURI, for the messages it gives on the usual mistakes. */
function parseRequestURI(s: string): string[] {
  const q = JSON.stringify(s);
  if (s === '') return [`parse ${q}: empty url`];
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(s);
  if (scheme === null) {
    // Go getScheme: only a leading ':' is a missing scheme; a digit or '+-.' first means none.
    if (s.startsWith(':')) return [`parse ${q}: missing protocol scheme`];
    if (!s.startsWith('/')) return [`parse ${q}: invalid URI for request`];
    return [];
  }
  const rest = s.slice(scheme[0].length);
  if (!rest.startsWith('/')) return [];
  return /[\s<>"{}|\\^`]/.test(rest.split(/[?#]/)[0] as string) ? [`parse ${q}: invalid character in URL`] : [];
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$/;
const TIME_OF_DAY = /^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$/;

/** Go's time.Parse("2006-01-02", s): four-digit year, real month and day. */
function isDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (m === null) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1) return false;
  const days = [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1] as number;
  return d <= days;
}
/** kube-openapi strfmt IsDateTime. */
function isDateTime(s: string): boolean {
  if (s.length < 4) return false;
  const parts = s.toLowerCase().split('t');
  if (parts.length < 2 || !isDate(parts[0] as string)) return false;
  const m = TIME_OF_DAY.exec(parts[1] as string);
  return m !== null && (m[1] as string) <= '23' && (m[2] as string) <= '59' && (m[3] as string) <= '59';
}

const FORMATS: Record<string, (s: string) => string[]> = {
  dns1123Label: (s) => isDNS1123Label(s),
  dns1123Subdomain: (s) => isDNS1123Subdomain(s),
  dns1035Label: (s) => isDNS1035Label(s),
  qualifiedName: isQualifiedName,
  dns1123LabelPrefix: (s) => isDNS1123Label(maskTrailingDash(s)),
  dns1123SubdomainPrefix: (s) => isDNS1123Subdomain(maskTrailingDash(s)),
  dns1035LabelPrefix: (s) => isDNS1035Label(maskTrailingDash(s)),
  labelValue: isLabelValue,
  uri: parseRequestURI,
  uuid: (s) => (UUID.test(s) ? [] : ['does not match the UUID format']),
  byte: (s) => (BASE64.test(s) ? [] : ['invalid base64']),
  date: (s) => (isDate(s) ? [] : ['invalid date']),
  datetime: (s) => (isDateTime(s) ? [] : ['invalid datetime']),
};

const NAMED = new Map(Object.entries(FORMATS).map(([n, f]) => [n, new NamedFormat(n, f)]));

export function registerFormat(r: Registry): void {
  for (const [name, f] of NAMED) r.global(`format.${name}`, `format-${name}`, [], FORMAT_TYPE, () => f);
  r.global('format.named', 'format-named', [STRING], optionalOf(FORMAT_TYPE), (n: string) => {
    const f = NAMED.get(n);
    return f === undefined ? CelOptional.NONE : CelOptional.of(f);
  });
  r.member('validate', 'format-validate', [FORMAT_TYPE, STRING], optionalOf(listOf(STRING)), (f: NamedFormat, s: string) => {
    const errs = f.validate(s);
    return errs.length === 0 ? CelOptional.NONE : CelOptional.of(errs);
  }, {
    // library/cost.go: a regex-sized traversal of the string (MaxRegexSize per format).
    cost: (a) => Math.ceil((1 + (typeof a[1] === 'string' ? a[1].length : 0)) * 0.1) * 15,
  });
  void BOOL;
}
