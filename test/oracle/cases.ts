// The differential cases: every library function of the VAP environment crossed with value
// tables and error cases, plus object expressions over object/oldObject/request/variables/
// params. Deterministic (no randomness), so an expectations entry names a stable case id.
// `tsx test/oracle/cases.ts > cases.jsonl` writes them as the oracle reads them.

export interface OracleRequest {
  operation: string;
  namespace: string;
  name: string;
  kind: { group: string; version: string; kind: string };
  resource: { group: string; version: string; resource: string };
  subResource?: string;
  username: string;
  groups: string[];
  dryRun: boolean;
}

export interface OracleCase {
  id: string;
  expression: string;
  variables?: { name: string; expression: string }[];
  object?: unknown;
  oldObject?: unknown;
  params?: unknown;
  namespaceObject?: unknown;
  request?: OracleRequest;
}


// Values of every type, as CEL literals.
const SCALARS = [
  '0', '1', '-1', '7', '9223372036854775807', '-9223372036854775808', '0u', '1u', '18446744073709551615u',
  '0.0', '1.0', '-1.5', '2.5', '1e100', "double('NaN')", "double('Infinity')", "''", "'a'", "'abc'", "'Straße'",
  "'🙂x'", "b''", "b'abc'", 'true', 'false', 'null', "duration('1h')", "duration('-1.5s')",
  "timestamp('2024-01-01T00:00:00Z')", "timestamp('2024-02-29T12:30:45.123456789+02:00')",
];
const AGGREGATES = ['[]', '[1, 2, 3]', "['a', 'b']", '[1.5, 0.5]', "{'a': 1}", '{}', "{'a': 1, 'b': 2}", '[[1], [2, 3]]', 'dyn([1, "a"])', "dyn({'a': 1, 2: 'b'})"];
const VALUES = [...SCALARS, ...AGGREGATES];

const BINARY = ['==', '!=', '<', '<=', '>', '>=', '+', '-', '*', '/', '%', 'in'];
// A smaller table for the binary cross product (30 x 30 x 12 would be 10,800 cases).
const OPERANDS = [
  '0', '1', '-1', '9223372036854775807', '1u', '0u', '1.0', '0.0', '-1.5', "double('NaN')", "''", "'a'", "'ab'",
  "b'a'", 'true', 'false', 'null', "duration('1h')", "timestamp('2024-01-01T00:00:00Z')", '[1]', "['a']", "{'a': 1}",
  'dyn(1)', 'dyn(1.0)', 'dyn(1u)', "dyn('a')",
];

const STRINGS = ["''", "'hello'", "'Hello, World'", "'  padded \\t'", "'a,b,,c'", "'🙂🙂x'", "'Straße'", "'ÀÉÎ'", "'x'"];

const CONVERSIONS = ['int', 'uint', 'double', 'string', 'bytes', 'bool', 'duration', 'timestamp', 'type', 'dyn', 'size'];
const CONVERSION_INPUTS = [
  ...VALUES, "'123'", "'-9223372036854775809'", "'0x10'", "'1e3'", "' 1'", "'t'", "'TRUE'", "'False'", "'yes'", "'1h30m'",
  "'1d'", "'-1ms'", "'1.5h'", "'bad'", "'2024-01-01T00:00:00Z'", "'2024-13-01T00:00:00Z'", "'2024-01-01'", '1.9', '-1.9',
  '1e19', '100000000000', "'1.23456789e+08'", "'Infinity'", "'nan'", '123456789.0', '0.1', '1e21', '1e-7', '-0.0',
];

function stringFunctionCases(): string[] {
  const out: string[] = [];
  for (const s of STRINGS) {
    for (const a of ["''", "'l'", "'o'", "','", "'🙂'", "'x'"]) {
      out.push(`${s}.indexOf(${a})`, `${s}.lastIndexOf(${a})`, `${s}.contains(${a})`, `${s}.startsWith(${a})`, `${s}.endsWith(${a})`,
        `${s}.split(${a})`, `${s}.replace(${a}, '_')`);
      for (const i of ['-1', '0', '1', '2', '5', '20']) out.push(`${s}.indexOf(${a}, ${i})`, `${s}.lastIndexOf(${a}, ${i})`);
      out.push(`${s}.split(${a}, 2)`, `${s}.split(${a}, 0)`, `${s}.split(${a}, -1)`, `${s}.replace(${a}, '_', 1)`, `${s}.replace(${a}, '_', 0)`);
    }
    for (const i of ['-1', '0', '1', '3', '5', '12']) {
      out.push(`${s}.charAt(${i})`, `${s}.substring(${i})`);
      for (const j of ['0', '2', '5', '12']) out.push(`${s}.substring(${i}, ${j})`);
    }
    out.push(`${s}.lowerAscii()`, `${s}.upperAscii()`, `${s}.trim()`, `${s}.reverse()`, `strings.quote(${s})`, `size(${s})`, `${s}.size()`);
    for (const re of ["'l+'", "'^h'", "'[a-z]+'", "''", "'x*'", "'.'", "'(?i)HELLO'", "'\\\\pL+'", "'[[:upper:]]'", "'o$'"])
      out.push(`${s}.matches(${re})`, `${s}.find(${re})`, `${s}.findAll(${re})`, `${s}.findAll(${re}, 1)`);
  }
  for (const re of ["'(a)\\\\1'", "'(?=a)'", "'a{1001}'", "'['", "'\\\\C'", "'(?P<n>a)'", "'(?<n>a)'", "'a**'", "'\\\\Q.\\\\E'", "'(?U)a+'"])
    out.push(`'aaa'.matches(${re})`, `'aaa'.find(${re})`);
  out.push("'xyz'.findAll('x*')", "'🙂🙂x'.findAll('')", "'ok 🙂'.findAll('[0-9]*')", "'aaa'.matches('(' + 'a)\\\\1')");
  for (const l of ['[]', "['a']", "['a', 'b', 'c']", "['', '']", '[1, 2]']) out.push(`${l}.join()`, `${l}.join(', ')`);
  return out;
}

const FORMAT_ARGS = [
  '1', '-12', '255', '1u', '3.14159', '1e20', '1.0e-5', '123456789.0', "double('NaN')", "double('Infinity')", "'str'", 'true', 'null',
  "b'hi'", '[1, 2]', "['a', 'b']", "{'k': 'v'}", "{'b': 1, 'a': 2}", "duration('90s')", "timestamp('2024-01-01T00:00:00Z')", 'type(1)', '[1.5, "x"]',
];
const FORMAT_VERBS = ['%s', '%d', '%f', '%.2f', '%e', '%.3e', '%b', '%o', '%x', '%X', '%v', '%%', '%.0f', '%10d'];

function formatCases(): string[] {
  const out: string[] = [];
  for (const v of FORMAT_VERBS) for (const a of FORMAT_ARGS) out.push(`'${v}'.format([${a}])`);
  out.push("'%s %s'.format(['a'])", "'%s'.format([])", "'no verbs'.format([1])", "'%'.format([1])", "'%z'.format([1])");
  return out;
}

const LISTS = ['[]', '[3, 1, 2]', '[1, 1, 2]', '[1.5, -0.5]', "['b', 'a', 'c']", '[1u, 2u]', '[true, false]', "[duration('1s'), duration('2m')]", "[[1, 2], [3], []]", '[1, 2.0]', "[{'a': 1}, {'a': 1}]"];

function listCases(): string[] {
  const out: string[] = [];
  for (const l of LISTS) {
    for (const f of ['isSorted()', 'sum()', 'min()', 'max()', 'distinct()', 'reverse()', 'sort()', 'flatten()', 'first()', 'last()', 'size()'])
      out.push(`${l}.${f}`);
    for (const x of ['1', "'a'", '2', '1.5', '[1, 2]', 'true']) out.push(`${l}.indexOf(${x})`, `${l}.lastIndexOf(${x})`, `${l}.includes(${x})`, `${x} in ${l}`);
    for (const [i, j] of [[0, 0], [0, 1], [1, 3], [2, 1], [-1, 1], [0, 5]]) out.push(`${l}.slice(${i}, ${j})`);
    out.push(`${l}.flatten(0)`, `${l}.flatten(2)`, `${l}.flatten(-1)`, `${l}.sortBy(x, x)`, `sets.contains(${l}, [1])`, `sets.equivalent(${l}, ${l})`, `sets.intersects(${l}, [1, 'a'])`);
  }
  for (const n of ['-1', '0', '3', '1000001']) out.push(`lists.range(${n})`);
  out.push("[{'n': 2}, {'n': 1}].sortBy(e, e.n)", "[1, 2].sortBy(x, -x)", '[].min()', '[1, [2]].flatten()');
  return out;
}

function libraryCases(): string[] {
  const out: string[] = [];
  const quantities = ["'1'", "'500m'", "'1.5Gi'", "'1k'", "'1Ki'", "'-2'", "'0'", "'1e3'", "'100M'", "'bad'", "''", "'9223372036854775807'", "'1.5'", "'0.5'"];
  for (const s of quantities) {
    out.push(`isQuantity(${s})`, `quantity(${s})`, `quantity(${s}).isInteger()`, `quantity(${s}).asInteger()`, `quantity(${s}).asApproximateFloat()`,
      `quantity(${s}).sign()`, `sign(quantity(${s}))`, `quantity(${s}).add(quantity('1'))`, `quantity(${s}).sub(1)`, `quantity(${s}).add(2)`,
      `quantity(${s}).compareTo(quantity('1'))`, `quantity(${s}).isGreaterThan(quantity('1'))`, `quantity(${s}).isLessThan(quantity('1Gi'))`,
      `quantity(${s}) == quantity('1')`);
  }
  const ips = ["'192.168.0.1'", "'10.0.0.0'", "'::1'", "'fe80::1'", "'2001:db8::1'", "'1.2.3'", "'01.2.3.4'", "'::ffff:1.2.3.4'", "'0.0.0.0'", "'127.0.0.1'", "'224.0.0.1'", "'fe80::1%eth0'"];
  for (const s of ips) {
    out.push(`isIP(${s})`, `ip(${s})`, `string(ip(${s}))`, `ip(${s}).family()`, `ip(${s}).isUnspecified()`, `ip(${s}).isLoopback()`,
      `ip(${s}).isLinkLocalMulticast()`, `ip(${s}).isLinkLocalUnicast()`, `ip(${s}).isGlobalUnicast()`, `ip.isCanonical(${s})`,
      `cidr('10.0.0.0/8').containsIP(${s})`, `cidr('::/0').containsIP(${s})`);
  }
  const cidrs = ["'10.0.0.0/8'", "'10.1.2.3/8'", "'192.168.0.0/16'", "'::1/128'", "'2001:db8::/32'", "'1.2.3.4/33'", "'bad'", "'0.0.0.0/0'"];
  for (const s of cidrs) {
    out.push(`isCIDR(${s})`, `cidr(${s})`, `string(cidr(${s}))`, `cidr(${s}).prefixLength()`, `cidr(${s}).ip()`, `cidr(${s}).masked()`,
      `cidr(${s}).containsCIDR('10.1.0.0/16')`, `cidr(${s}).containsIP('10.1.2.3')`, `cidr(${s}) == cidr('10.0.0.0/8')`);
  }
  const urls = ["'https://user:pass@example.com:8080/path?q=1&q=2&r=x#frag'", "'http://[::1]:80/'", "'/relative/path'", "'example.com'", "'https://example.com'",
    "'http://[fe80::1%25en0]:8080/'", "'ftp://a.b/c%20d'", "'https://EXAMPLE.com/a/../b'", "'::bad'", "'https://a.com/?'", "'https://a.com/#x'"];
  for (const s of urls) {
    out.push(`isURL(${s})`, `url(${s})`, `url(${s}).getScheme()`, `url(${s}).getHost()`, `url(${s}).getHostname()`, `url(${s}).getPort()`,
      `url(${s}).getEscapedPath()`, `url(${s}).getQuery()`);
  }
  const semvers = ["'1.2.3'", "'1.2.3-alpha.1+build'", "'v1.2.3'", "'1.2'", "'01.2.3'", "'1.2.3-01'", "'bad'", "'10.0.0'", "'1.2.3-rc.1'"];
  for (const s of semvers) {
    out.push(`isSemver(${s})`, `isSemver(${s}, true)`, `semver(${s})`, `semver(${s}, true)`, `semver(${s}).major()`, `semver(${s}).minor()`, `semver(${s}).patch()`,
      `semver(${s}).isGreaterThan(semver('1.2.3'))`, `semver(${s}).isLessThan(semver('2.0.0'))`, `semver(${s}).compareTo(semver('1.2.3'))`);
  }
  const formats = ['dns1123Label', 'dns1123Subdomain', 'dns1035Label', 'qualifiedName', 'dns1123LabelPrefix', 'dns1123SubdomainPrefix', 'dns1035LabelPrefix',
    'labelValue', 'uri', 'uuid', 'byte', 'date', 'datetime'];
  const formatInputs = ["'my-name'", "'My_Name'", "''", "'a.b.c'", "'-x'", "'a'.repeat(1)", "'2024-01-01'", "'2024-01-01T00:00:00Z'", "'https://x.y/z'",
    "'123e4567-e89b-12d3-a456-426614174000'", "'aGVsbG8='", "'example.com/name'"];
  for (const f of formats) for (const s of formatInputs) out.push(`format.${f}().validate(${s})`);
  out.push("format.named('dns1123Label').hasValue()", "format.named('nope').hasValue()", "format.named('dns1123Label').value().validate('x')");
  const timestamps = ["timestamp('2024-01-01T00:00:00Z')", "timestamp('2024-02-29T23:59:59.999Z')", "timestamp('1970-01-01T00:00:00-08:00')", "timestamp(0)", "timestamp(1700000000)"];
  for (const t of timestamps) {
    for (const g of ['getFullYear', 'getMonth', 'getDayOfYear', 'getDayOfMonth', 'getDate', 'getDayOfWeek', 'getHours', 'getMinutes', 'getSeconds', 'getMilliseconds'])
      out.push(`${t}.${g}()`, `${t}.${g}('America/New_York')`, `${t}.${g}('+05:30')`, `${t}.${g}('Nowhere/Bad')`);
    out.push(`string(${t})`, `int(${t})`, `${t} + duration('1h')`, `${t} - duration('1h')`, `${t} - timestamp('2024-01-01T00:00:00Z')`, `${t} < timestamp('2024-01-01T00:00:00Z')`);
  }
  for (const d of ["duration('1h')", "duration('1.5s')", "duration('-90m')", "duration('0s')", "duration('1h2m3.004s')", "duration('100us')", "duration('1ns')"]) {
    out.push(`${d}.getHours()`, `${d}.getMinutes()`, `${d}.getSeconds()`, `${d}.getMilliseconds()`, `string(${d})`, `int(${d})`, `${d} + ${d}`, `${d} < duration('1m')`);
  }
  const optionals = [
    'optional.of(1)', 'optional.none()', 'optional.ofNonZeroValue(0)', 'optional.ofNonZeroValue(1)', "optional.ofNonZeroValue('')", 'optional.of(1).value()',
    'optional.none().value()', 'optional.none().orValue(2)', 'optional.of(1).orValue(2)', 'optional.none().or(optional.of(3))', 'optional.of(1).hasValue()',
    "{'a': 1}.?a", "{'a': 1}.?b", "{'a': 1}.?b.orValue(0)", '[1, 2][?0]', '[1, 2][?5]', "{'a': {'b': 1}}.?a.?b", 'optional.of(1).optMap(x, x + 1)',
    'optional.none().optMap(x, x + 1)', 'optional.of(1).optFlatMap(x, optional.of(x * 2))', 'optional.unwrap([optional.of(1), optional.none()])',
    '[optional.of(1), optional.none()].unwrapOpt()', "{?'a': optional.of(1), ?'b': optional.none()}", '[?optional.of(1), ?optional.none()]',
    'optional.of(1) == optional.of(1)', 'optional.none() == optional.none()',
  ];
  out.push(...optionals);
  const macros = [
    '[1, 2, 3].all(x, x > 0)', '[1, 2, 3].exists(x, x > 2)', '[1, 2, 3].exists_one(x, x > 1)', '[1, 2, 3].map(x, x * 2)', '[1, 2, 3].filter(x, x % 2 == 1)',
    '[1, 2, 3].map(x, x > 1, x * 10)', "{'a': 1, 'b': 2}.all(k, k != '')", "{'a': 1}.map(k, k)", '[1, 0].all(x, 1 / x > 0)', '[0, 1].exists(x, 1 / x > 0)',
    '[1, 2].all(i, v, i < v)', "{'a': 1}.all(k, v, v > 0)", '[1, 2].exists(i, v, v == 2)', '[1, 2].existsOne(i, v, v == 2)', "{'a': 1, 'b': 2}.transformMap(k, v, v * 2)",
    "{'a': 1, 'b': 2}.transformMap(k, v, v > 1, v * 2)", '[1, 2].transformList(i, v, i + v)', "[1, 2].transformMapEntry(i, v, {string(i): v})", "{'a': 1}.transformList(k, v, k)",
    'has({}.a)', "has({'a': 1}.a)", 'cel.bind(x, 1, x + 1)', 'math.greatest(1, 2)', "base64.encode(b'a')", 'math.abs(-1)', 'strings.quote("a")',
    '1 == 1.0', '1 == dyn(1.0)', "[1, 'a']", "{'a': 1, 'b': 'x'}", "{'a': 1, 'a': 2}", 'dyn(1) < dyn(double("NaN"))', '1 < 1.5', '1u < -1', '1.0 > 1u',
    "quantity('1').sign()", 'int(duration("1h"))', "string(123456789.0)", "'hello'.indexOf('l', 20)", "'hello'.lastIndexOf('l', 5)", "duration('1h').getMilliseconds()",
    "string(timestamp('2024-01-01T00:00:00-02:00'))", "quantity('1.5Gi').isInteger()", '[1,2,3].includes(2)', "timestamp('bad')", "int('x')", "duration('1d')",
    '9223372036854775807 + 1', '-9223372036854775808 - 1', '1 / 0', '1 % 0', '18446744073709551615u + 1u', '0u - 1u', '-(-9223372036854775808)', '1.0 / 0.0',
    "{'a': 1}['b']", '[1][1]', '[1][-1]', "dyn({'a': 1}).b", 'dyn(1).a', "type(dyn(1)) == int", 'type(1) == type(2)', "type('a')", 'type(type(1))', 'type([])',
    "type({})", 'type(null)', 'type(optional.none())', "type(quantity('1'))", "type(ip('1.2.3.4'))", 'true ? 1 : 2', "false ? 1 : 'a'", 'true || 1 / 0 > 0',
    'false && 1 / 0 > 0', '1 / 0 > 0 || true', '1 / 0 > 0 && false',
  ];
  out.push(...macros);
  return out;
}

function literalCases(): string[] {
  const out: string[] = [];
  for (const op of BINARY) for (const a of OPERANDS) for (const b of OPERANDS) out.push(`${a} ${op} ${b}`);
  for (const f of CONVERSIONS) for (const v of CONVERSION_INPUTS) out.push(`${f}(${v})`);
  for (const v of VALUES) out.push(`-${v}`, `!${v}`, `dyn(${v}) == dyn(${v})`, `[${v}] == [${v}]`, `{'k': ${v}}.k`);
  // Runs of unary operators: cel-go keeps one call for an odd run and none for an even one.
  for (const v of ['5', '1.5', "'a'", 'true', '9223372036854775808', '-9223372036854775808', '9223372036854775807', '[1]'])
    out.push(`--${v}`, `---${v}`, `- -${v}`, `-(-${v})`, `!!${v}`, `!!!${v}`);
  out.push('-9223372036854775809', '-0x8000000000000000', '--0x10', '-1.5.abs()', '-(1)', '- 9223372036854775808');
  return out;
}

// ---- object expressions ----

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'checkout', namespace: 'shop', labels: { app: 'checkout', env: 'prod', 'cost-center': 'cc-1' }, annotations: { note: 'ok 🙂', 'kidp.io/owner': 'team-a' } },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'checkout' } },
    template: {
      metadata: { labels: { app: 'checkout' } },
      spec: {
        containers: [
          { name: 'app', image: 'registry.example.com/shop/checkout:1.4.2', ports: [{ containerPort: 8080 }], resources: { limits: { cpu: '500m', memory: '512Mi' } }, securityContext: { privileged: false } },
          { name: 'sidecar', image: 'envoy:latest', resources: { requests: { cpu: '0.1' } } },
        ],
        securityContext: { runAsNonRoot: true, runAsUser: 1000 },
      },
    },
  },
};
const oldDeployment = { ...deployment, spec: { ...deployment.spec, replicas: 2 }, metadata: { ...deployment.metadata, labels: { app: 'checkout', env: 'staging' } } };
const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'shop' }, data: { 'app.conf': 'x=1', 'Bad Key': 'y', 'ratio': '0.5' } };
const emptyConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'empty', namespace: 'shop' } };
const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { env: 'prod' } } };

function requestFor(kind: string, group: string, resource: string, operation: string, username = 'alice'): OracleRequest {
  return {
    operation,
    namespace: 'shop',
    name: kind === 'Deployment' ? 'checkout' : 'cfg',
    kind: { group, version: 'v1', kind },
    resource: { group, version: 'v1', resource },
    username,
    groups: ['system:authenticated', 'devs'],
    dryRun: false,
  };
}

const DEPLOYMENT_EXPRESSIONS = [
  'object.spec.replicas >= 2', 'object.spec.replicas', 'object.metadata.name', "object.metadata.labels['env']", "object.metadata.labels.env == 'prod'",
  "has(object.metadata.labels) && 'cost-center' in object.metadata.labels", "object.spec.template.spec.containers.all(c, !c.image.endsWith(':latest'))",
  "object.spec.template.spec.containers.map(c, c.image)", "object.spec.template.spec.containers.exists(c, c.image.startsWith('registry.example.com/'))",
  "object.spec.template.spec.containers.all(c, c.image.matches('^registry\\\\.example\\\\.com/'))", 'object.spec.template.spec.containers.map(c, c.name).join(",")',
  "object.spec.template.spec.containers.all(c, has(c.resources.limits) && has(c.resources.limits.cpu))",
  "object.spec.template.spec.containers.filter(c, has(c.resources.limits)).map(c, quantity(c.resources.limits.memory).isLessThan(quantity('1Gi')))",
  'object.spec.template.spec.securityContext.runAsNonRoot == true', 'object.spec.template.spec.securityContext.runAsUser > 0',
  "object.metadata.?labels.?team.orValue('none')", "object.metadata.?annotations['kidp.io/owner'].orValue('')", 'object.spec.nope', 'has(object.spec.nope)',
  "object.metadata.annotations.all(k, v, v.findAll('[0-9]*').size() < 10)", 'object.spec.template.spec.containers[0].ports[0].containerPort',
  'object.spec.template.spec.containers[5]', 'size(object.spec.template.spec.containers)', 'object.kind', 'object.apiVersion', 'type(object.spec.replicas)',
  'type(object.metadata.labels)', 'object.spec.replicas == oldObject.spec.replicas', 'object.spec.replicas - oldObject.spec.replicas',
  "oldObject.metadata.labels.env", 'oldObject == null', 'object.metadata.labels == oldObject.metadata.labels',
  "request.operation", "request.userInfo.username", "request.userInfo.groups.exists(g, g == 'devs')", "request.namespace", "request.name", "request.kind.kind",
  "request.resource.resource", 'request.dryRun', "!request.userInfo.username.startsWith('system:')", "namespaceObject.metadata.labels.env == 'prod'",
  'namespaceObject.metadata.name', 'params.maxReplicas >= object.spec.replicas', "params.allowed.exists(r, object.spec.template.spec.containers.all(c, c.image.startsWith(r)))",
  'object.spec.template.spec.containers.all(c, c.securityContext.privileged == false)', "object.spec.template.spec.containers.map(c, c.?securityContext.?privileged.orValue(false))",
  'object.metadata.labels.size()', "object.spec.template.spec.containers.sortBy(c, c.name).map(c, c.name)", "object.spec.template.spec.containers.map(c, c.image.split(':')[1])",
  "format.dns1123Label().validate(object.metadata.name)", "object.spec.template.spec.containers.all(c, format.dns1123Label().validate(c.name).hasValue() == false)",
];

const VARIABLE_SETS: { variables: { name: string; expression: string }[]; expressions: string[] }[] = [
  {
    variables: [{ name: 'images', expression: 'object.spec.template.spec.containers.map(c, c.image)' }],
    expressions: [
      "variables.images.all(i, !i.endsWith(':latest') && i.contains(':'))", 'variables.images', 'variables.images.size()', 'type(variables.images)',
      "variables.images.exists(i, i.matches(':[0-9.]+$'))", 'variables.nope',
    ],
  },
  {
    variables: [
      { name: 'replicas', expression: 'object.spec.replicas' },
      { name: 'doubled', expression: 'variables.replicas * 2' },
      { name: 'isProd', expression: "object.metadata.labels.env == 'prod'" },
    ],
    expressions: ['variables.doubled', 'variables.isProd && variables.replicas >= 3', 'variables.doubled + 1.0', "variables.replicas + 'x'", 'variables.isProd ? 1 : 2'],
  },
  { variables: [{ name: 'bad', expression: '1 +' }], expressions: ['true'] },
  { variables: [{ name: 'boom', expression: '1 / 0' }], expressions: ['variables.boom > 0', 'true', 'false || variables.boom > 0'] },
];

const CONFIGMAP_EXPRESSIONS = [
  "!has(object.data) || object.data.all(k, k.matches('^[a-z0-9.-]+$'))", 'has(object.data)', 'object.data.size()', "object.data['ratio']", "double(object.data.ratio) < 1.0",
  "object.data.exists(k, v, v.contains('='))", "object.data.map(k, k).sort()", "object.data.filter(k, k.contains(' '))", "object.?data.orValue({}).size()", 'object.data.all(k, k.size() < 64)',
];

function objectCases(): OracleCase[] {
  const out: OracleCase[] = [];
  const ops = ['CREATE', 'UPDATE'];
  for (const op of ops) {
    const base = {
      object: deployment,
      ...(op === 'UPDATE' ? { oldObject: oldDeployment } : {}),
      namespaceObject: namespace,
      params: { maxReplicas: 5, allowed: ['registry.example.com/'] },
      request: requestFor('Deployment', 'apps', 'deployments', op),
    };
    DEPLOYMENT_EXPRESSIONS.forEach((e, i) => out.push({ id: `object/deployment/${op}/${i}`, expression: e, ...base }));
    VARIABLE_SETS.forEach((set, s) =>
      set.expressions.forEach((e, i) => out.push({ id: `object/variables/${op}/${s}/${i}`, expression: e, variables: set.variables, ...base })),
    );
  }
  for (const [name, obj] of [['configmap', configMap], ['configmap-empty', emptyConfigMap]] as const)
    CONFIGMAP_EXPRESSIONS.forEach((e, i) =>
      out.push({ id: `object/${name}/${i}`, expression: e, object: obj, namespaceObject: namespace, request: requestFor('ConfigMap', '', 'configmaps', 'CREATE') }),
    );
  // DELETE: object is null, oldObject holds the object.
  for (const [i, e] of ['object == null', 'oldObject.metadata.name', 'object.metadata.name', "request.operation == 'DELETE'"].entries())
    out.push({ id: `object/delete/${i}`, expression: e, oldObject: deployment, namespaceObject: namespace, request: requestFor('Deployment', 'apps', 'deployments', 'DELETE') });
  return out;
}

// The authz library against the oracle's fixed authorizer (main.go fixedAuthorizer): the
// requesting user is alice unless a case says otherwise.
function authzCases(): string[] {
  const secrets = "authorizer.group('').resource('secrets')";
  return [
    `${secrets}.check('get').allowed()`, `${secrets}.check('get').reason()`, `${secrets}.check('list').allowed()`, `${secrets}.check('list').reason()`,
    `${secrets}.namespace('shop').name('db').subresource('x').check('get').allowed()`, `${secrets}.check('get').errored()`, `${secrets}.check('get').error()`,
    "authorizer.group('').resource('pods').check('get').errored()", "authorizer.group('').resource('pods').check('get').error()", "authorizer.group('').resource('pods').check('get').allowed()",
    "authorizer.path('/healthz').check('get').allowed()", "authorizer.path('/healthz').check('post').reason()", "authorizer.path('').check('get').allowed()", "authorizer.path('  ').check('get')",
    "authorizer.group('').resource('').check('get').allowed()", "authorizer.group('apps').resource('deployments').check('get').allowed()",
    "authorizer.serviceAccount('shop', 'builder').group('').resource('secrets').check('get').allowed()", "authorizer.serviceAccount('shop', 'Bad_Name').path('/healthz').check('get').allowed()",
    "authorizer.serviceAccount('Shop', 'ok').path('/healthz').check('get').allowed()", "authorizer.serviceAccount('shop', 'a.b').path('/healthz').check('get').allowed()",
    "authorizer.requestResource.check('create').allowed()", "authorizer.requestResource.check('create').reason()", "authorizer.requestResource.namespace('x').check('get').allowed()",
    `${secrets}.fieldSelector('metadata.name=db').labelSelector('app in (a)').check('get').allowed()`, `${secrets}.fieldSelector('!!bad').check('get').allowed()`,
    'authorizer == authorizer', 'type(authorizer) == type(authorizer)', "authorizer.check('get')", "authorizer.group('').check('get')", "authorizer.path(1)", "authorizer.group('').resource('secrets').allowed()",
    `${secrets}.check('get').allowed() && ${secrets}.check('get').allowed()`, `[1, 2, 3].all(i, ${secrets}.check('get').allowed())`, 'authorizer.requestResource.name', 'authorizer.nope',
    `${secrets}.check(1)`, "authorizer.path('/healthz').check('get').allowed() ? 1 : 'x'",
  ];
}

export function generateCases(): OracleCase[] {
  const plain: [string, string[]][] = [
    ['authz', authzCases()],
    ['literal', literalCases()],
    ['string', stringFunctionCases()],
    ['format', formatCases()],
    ['list', listCases()],
    ['library', libraryCases()],
  ];
  const out: OracleCase[] = [];
  const seen = new Set<string>();
  for (const [group, exprs] of plain)
    for (const e of exprs) {
      if (seen.has(e)) continue;
      seen.add(e);
      out.push({ id: `${group}/${e}`, expression: e });
    }
  out.push(...objectCases());
  return out;
}


if (process.argv[1]?.endsWith('cases.ts')) {
  for (const c of generateCases()) process.stdout.write(`${JSON.stringify(c)}\n`);
}
