// Table-driven tests of the Kubernetes CEL libraries: each function with normal, edge and
// error cases, comparing the whole outcome (type + value, or error code + message).
import { createEnvironment } from '../index.js';
import { evaluateToOutcome, type Outcome } from '../outcome.js';

const env = createEnvironment({ variables: {} });
const ok = (type: string, value: unknown): Outcome => ({ type, value } as Outcome);
const evalErr = (message: string): Outcome => ({ error: 'CEL_EVAL', message });
const compileErr = (message: string): Outcome => ({ error: 'CEL_COMPILE', message });

type Row = [expr: string, want: Outcome];

function table(name: string, rows: Row[]): void {
  describe(name, () => {
    it.each(rows)('%s', (expr, want) => {
      expect(evaluateToOutcome(env, expr)).toEqual(want);
    });
  });
}

table('quantity', [
  ["quantity('500m')", ok('kubernetes.Quantity', '500m')],
  ["isQuantity('1.5Gi')", ok('bool', true)],
  ["isQuantity('1.5GiB')", ok('bool', false)],
  ["quantity('1Gi').compareTo(quantity('1024Mi'))", ok('int', 0)],
  ["quantity('1').isGreaterThan(quantity('999m'))", ok('bool', true)],
  ["quantity('100Mi').isLessThan(quantity('1Gi'))", ok('bool', true)],
  ["sign(quantity('-2'))", ok('int', -1)],
  ["sign(quantity('0'))", ok('int', 0)],
  ["quantity('1k').isInteger()", ok('bool', true)],
  ["quantity('1500m').isInteger()", ok('bool', false)],
  ["quantity('1k').asInteger()", ok('int', 1000)],
  ["quantity('1500m').asInteger()", evalErr('cannot convert value to integer')],
  ["quantity('10E').asInteger()", evalErr('cannot convert value to integer')],
  ["quantity('1500m').asApproximateFloat()", ok('double', 1.5)],
  ["quantity('500m').add(quantity('1500m'))", ok('kubernetes.Quantity', '2')],
  ["quantity('1Gi').add(1)", ok('kubernetes.Quantity', '1073741825')],
  ["quantity('2Gi').sub(quantity('1Gi'))", ok('kubernetes.Quantity', '1Gi')],
  ["quantity('1').sub(3)", ok('kubernetes.Quantity', '-2')],
  ["quantity('1e3') == quantity('1k')", ok('bool', true)],
  ["quantity('abc')", evalErr("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': 'abc'")],
  ["quantity(1)", compileErr("1:9: found no matching overload for 'quantity' applied to '(int)'")],
]);

table('IP and CIDR', [
  ["ip('192.168.0.1')", ok('net.IP', '192.168.0.1')],
  ["string(ip('2001:DB8:0:0:0:0:0:1'))", ok('string', '2001:db8::1')],
  ["isIP('10.0.0.256')", ok('bool', false)],
  ["isIP('010.0.0.1')", ok('bool', false)],
  ["isIP('fe80::1%eth0')", ok('bool', false)],
  ["ip('::ffff:1.2.3.4')", evalErr("IPv4-mapped IPv6 address '::ffff:1.2.3.4' is not allowed")],
  ["ip('not an ip')", evalErr("IP Address 'not an ip' parse error during conversion from string")],
  ["ip.isCanonical('2001:db8::1')", ok('bool', true)],
  ["ip.isCanonical('2001:DB8::1')", ok('bool', false)],
  ["ip('10.0.0.1').family()", ok('int', 4)],
  ["ip('::1').family()", ok('int', 6)],
  ["ip('127.0.0.1').isLoopback()", ok('bool', true)],
  ["ip('::').isUnspecified()", ok('bool', true)],
  ["ip('224.0.0.1').isLinkLocalMulticast()", ok('bool', true)],
  ["ip('ff02::1').isLinkLocalMulticast()", ok('bool', true)],
  ["ip('169.254.1.1').isLinkLocalUnicast()", ok('bool', true)],
  ["ip('fe80::1').isLinkLocalUnicast()", ok('bool', true)],
  ["ip('10.0.0.1').isGlobalUnicast()", ok('bool', true)],
  ["ip('255.255.255.255').isGlobalUnicast()", ok('bool', false)],
  ["cidr('10.0.0.0/8').containsIP(ip('10.1.2.3'))", ok('bool', true)],
  ["cidr('10.0.0.0/8').containsIP('11.0.0.1')", ok('bool', false)],
  ["cidr('10.0.0.0/8').containsIP('::1')", ok('bool', false)],
  ["cidr('10.0.0.0/8').containsCIDR('10.1.0.0/16')", ok('bool', true)],
  ["cidr('10.1.0.0/16').containsCIDR(cidr('10.0.0.0/8'))", ok('bool', false)],
  ["cidr('192.168.1.5/24').ip()", ok('net.IP', '192.168.1.5')],
  ["cidr('192.168.1.5/24').masked()", ok('net.CIDR', '192.168.1.0/24')],
  ["cidr('2001:db8::/32').prefixLength()", ok('int', 32)],
  ["isCIDR('10.0.0.0/33')", ok('bool', false)],
  ["cidr('10.0.0.0')", evalErr("network address parse error during conversion from string: '10.0.0.0'")],
]);

table('URL', [
  ["url('https://example.com:8443/a/b?x=1&x=2&y=3')", ok('kubernetes.URL', 'https://example.com:8443/a/b?x=1&x=2&y=3')],
  ["url('https://example.com:8443/p').getScheme()", ok('string', 'https')],
  ["url('https://example.com:8443/p').getHost()", ok('string', 'example.com:8443')],
  ["url('https://example.com:8443/p').getHostname()", ok('string', 'example.com')],
  ["url('https://example.com/p').getPort()", ok('string', '')],
  ["url('https://[::1]:80/').getHostname()", ok('string', '::1')],
  ["url('https://[::1]:80/').getHost()", ok('string', '[::1]:80')],
  ["url('https://example.com/a b').getEscapedPath()", ok('string', '/a%20b')],
  ["url('/absolute/path?k=v').getEscapedPath()", ok('string', '/absolute/path')],
  ["url('https://example.com/?x=1&x=2&y=%20').getQuery()", ok('map', { x: ['1', '2'], y: [' '] })],
  ["url('https://example.com').getQuery()", ok('map', {})],
  ["isURL('https://example.com')", ok('bool', true)],
  ["isURL('relative/path')", ok('bool', false)],
  ["url('example.com')", evalErr("URL parse error during conversion from string: invalid URI for request: 'example.com'")],
]);

table('semver', [
  ["semver('1.2.3')", ok('kubernetes.Semver', '1.2.3')],
  ["semver('1.2.3-rc.1+build.5').major()", ok('int', 1)],
  ["semver('1.2.3').minor()", ok('int', 2)],
  ["semver('1.2.3').patch()", ok('int', 3)],
  ["semver('v1.2', true)", ok('kubernetes.Semver', '1.2.0')],
  ["isSemver('v1.0.0')", ok('bool', false)],
  ["isSemver('v1.0.0', true)", ok('bool', true)],
  ["isSemver('1.02.0')", ok('bool', false)],
  ["semver('1.2.3-rc.1').isLessThan(semver('1.2.3'))", ok('bool', true)],
  ["semver('1.2.3-alpha.10').compareTo(semver('1.2.3-alpha.9'))", ok('int', 1)],
  ["semver('2.0.0').isGreaterThan(semver('1.99.99'))", ok('bool', true)],
  ["semver('1.0.0+a') == semver('1.0.0+b')", ok('bool', true)],
  ["semver('1.0')", evalErr("invalid semver '1.0'")],
]);

table('lists', [
  ['[1, 2, 2, 3].isSorted()', ok('bool', true)],
  ["['b', 'a'].isSorted()", ok('bool', false)],
  ['[].isSorted()', ok('bool', true)],
  ['[1, 2, 3].sum()', ok('int', 6)],
  ['[1.5, 2.5].sum()', ok('double', 4)],
  ["[duration('1s'), duration('500ms')].sum()", ok('google.protobuf.Duration', '1.5s')],
  ['[9223372036854775807, 1].sum()', evalErr('integer overflow')],
  ['[3, 1, 2].min()', ok('int', 1)],
  ["['b', 'c', 'a'].max()", ok('string', 'c')],
  ['[].min()', evalErr('min called on empty list')],
  ['[1, 2, 1].indexOf(1)', ok('int', 0)],
  ['[1, 2, 1].lastIndexOf(1)', ok('int', 2)],
  ['[1, 2].indexOf(3)', ok('int', -1)],
  ['[1, 2, 3, 4].slice(1, 3)', ok('list', [2, 3])],
  ['[1, 2].slice(1, 5)', evalErr('cannot slice(1, 5), list is length 2')],
  ['[[1], [2, dyn([3])]].flatten()', ok('list', [1, 2, [3]])],
  ['[[1], [2, dyn([3])]].flatten(2)', ok('list', [1, 2, 3])],
  ['[1, 2, 1, 3].distinct()', ok('list', [1, 2, 3])],
  ['[1, 2, 3].reverse()', ok('list', [3, 2, 1])],
  ["['b', 'c', 'a'].sort()", ok('list', ['a', 'b', 'c'])],
  ["[dyn(1), 'a'].sort()", evalErr('sort: list elements must have the same type, found int and string')],
  ["[{'n': 2}, {'n': 1}].sortBy(e, e.n)", ok('list', [{ n: 1 }, { n: 2 }])],
  ['lists.range(3)', ok('list', [0, 1, 2])],
  ['[1, 2].first()', ok('optional_type', 1)],
  ['[].last()', ok('optional_type', null)],
]);

table('sets', [
  ['sets.contains([1, 2, 3], [3, 1])', ok('bool', true)],
  ['sets.contains([1, 2], [4])', ok('bool', false)],
  ['sets.contains([1], [])', ok('bool', true)],
  ['sets.equivalent([1, 2, 2], [2, 1])', ok('bool', true)],
  ['sets.equivalent([1], [dyn(1u), dyn(1.0)])', ok('bool', true)],
  ['sets.intersects([1, 2], [2, 3])', ok('bool', true)],
  ['sets.intersects([1], [])', ok('bool', false)],
]);

table('regex find/findAll', [
  ["'registry.example.com/app:1.2'.find('^[^/]+')", ok('string', 'registry.example.com')],
  ["'abc'.find('[0-9]+')", ok('string', '')],
  ["'a1b22c333'.findAll('[0-9]+')", ok('list', ['1', '22', '333'])],
  ["'a1b22c333'.findAll('[0-9]+', 2)", ok('list', ['1', '22'])],
  ["'a1b22c333'.findAll('[0-9]+', 0)", ok('list', [])],
  ["'ABC'.matches('(?i)^abc$')", ok('bool', true)],
  ["'x'.find('(?=x)')", compileErr("1:10: invalid regex at offset 0: error parsing regexp: invalid or unsupported Perl syntax: `(?=`")],
  ["'aa'.matches('(a)\\\\1')", compileErr("1:14: invalid regex at offset 3: error parsing regexp: invalid escape sequence: `\\1`")],
]);

table('format, strings ext', [
  ["'%s has %d replicas (%.1f%%)'.format(['web', 3, 99.5])", ok('string', 'web has 3 replicas (99.5%)')],
  ["'%x %X %o %b'.format([255, 255, 8, 5])", ok('string', 'ff FF 10 101')],
  // As the apiserver prints them (ext strings v2 on cel-go v0.29.2, x/text en_US printer).
  ["'%e'.format([1234.5])", ok('string', '1.234500×10⁰³')],
  ["'%.2f'.format([1234567.891])", ok('string', '1,234,567.89')],
  ["'%s'.format([[1, 'a', {'k': true}]])", ok('string', '[1, "a", {"k":true}]')],
  // Checked when written, as ext strings' format validator does in the apiserver.
  ["'%d'.format(['x'])", compileErr('1:14: error during formatting: decimal clause can only be used on integers, was given string')],
  ["'%d %d'.format([1])", compileErr('1:15: index 1 out of range')],
  ["'%d'.format(dyn(['x']))", evalErr('error during formatting: decimal clause can only be used on integers, was given string')],
  ["'hello'.charAt(1)", ok('string', 'e')],
  ["'  x  '.trim()", ok('string', 'x')],
  ["'a,b,c'.split(',', 2)", ok('list', ['a', 'b,c'])],
  ["['a', 'b'].join('-')", ok('string', 'a-b')],
  ["'Hello'.lowerAscii() + 'x'.upperAscii()", ok('string', 'helloX')],
  ["strings.quote('a\"b')", ok('string', '"a\\"b"')],
  ["'abc'.substring(2, 1)", evalErr('invalid substring range. start: 2, end: 1')],
]);

// Not in the apiserver's base environment (k8s.io/apiserver pkg/cel/environment/base.go):
// refused when written, as Kubernetes refuses them.
table('not in the Kubernetes environment', [
  ['math.greatest(1, 2)', compileErr("1:1: undeclared reference to 'math' (in container ''); 1:14: undeclared reference to 'greatest' (in container '')")],
  ["base64.encode(b'hello')", compileErr("1:1: undeclared reference to 'base64' (in container ''); 1:14: undeclared reference to 'encode' (in container '')")],
  ["'abc'.reverse()", compileErr("1:14: found no matching overload for 'reverse' applied to 'string.()'")],
  ['cel.bind(x, 1, x + 1)', compileErr("1:1: undeclared reference to 'cel' (in container ''); 1:10: undeclared reference to 'x' (in container ''); 1:16: undeclared reference to 'x' (in container ''); 1:9: undeclared reference to 'bind' (in container '')")],
  ["quantity('0').sign()", compileErr("1:19: found no matching overload for 'sign' applied to 'kubernetes.Quantity.()'")],
  ['1 == 1.0', compileErr("1:3: found no matching overload for '_==_' applied to '(int, double)'")],
  ["[1, 'a', 2.0]", compileErr("1:5: expected type 'int' but found 'string'; 1:10: expected type 'int' but found 'double'")],
]);

table('core semantics Kubernetes relies on', [
  ['1 == dyn(1.0)', ok('bool', true)],
  ['1u < 2', ok('bool', true)],
  ['2.5 > 2', ok('bool', true)],
  ["[dyn(1), 'a', 2.0]", ok('list', [1, 'a', 2])],
  ['1 / 0', evalErr('division by zero')],
  ['9223372036854775807 + 1', evalErr('integer overflow')],
  ["{'a': 1}.b", evalErr('no such key: b')],
  ["{'a': 1}.?b.orValue(7)", ok('int', 7)],
  ["[10, 20][?5].hasValue()", ok('bool', false)],
  ["optional.ofNonZeroValue('').hasValue()", ok('bool', false)],
  ['optional.none().value()', evalErr('optional.none() dereference')],
  ["optional.none().or(optional.of(2)).value()", ok('int', 2)],
  ["{?'a': optional.none(), 'b': 1}", ok('map', { b: 1 })],
  ['[1, 2].all(i, v, v > i)', ok('bool', true)],
  ["{'a': 1, 'b': 2}.exists(k, v, k == 'b' && v == 2)", ok('bool', true)],
  ['[1, 2, 3].existsOne(i, v, v == 2)', ok('bool', true)],
  ['[1, 2].transformList(i, v, v * 10)', ok('list', [10, 20])],
  ["{'a': 1}.transformMap(k, v, v + 1)", ok('map', { a: 2 })],
  ["{'a': 1}.transformMapEntry(k, v, {k + k: v})", ok('map', { aa: 1 })],
  ['[0, 1].all(x, 10 / x > 0)', evalErr('division by zero')],
  ['[0, 1].exists(x, 10 / x > 5)', ok('bool', true)],
  ["timestamp('2024-03-01T10:00:00Z').getHours('Europe/Paris')", ok('int', 11)],
  ["duration('1h30m').getMinutes()", ok('int', 90)],
]);
