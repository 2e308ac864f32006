import { InputTooDeepError, InputYamlError, KidpPolicyError } from '../policy/errors.js';
import { checkDepth, parseYamlDocuments } from './yaml-input.js';

function outcome(text: string): unknown {
  try {
    return parseYamlDocuments(text, 'in.yaml', { intAsBigInt: true }).map((d) => ({ line: d.line, value: d.value }));
  } catch (err) {
    if (!(err instanceof KidpPolicyError)) throw err;
    return { error: err.name, message: err.message, locations: err.locations };
  }
}

test.each([
  ['several documents, with their lines', 'a: 1\n---\nb: 2.5\n---\n', [{ line: 1, value: { a: 1n } }, { line: 3, value: { b: 2.5 } }]],
  ['JSON is YAML; integers stay apart from doubles', '{"i": 1, "d": 1.0, "e": 1e3}', [{ line: 1, value: { i: 1n, d: 1, e: 1000 } }]],
  ['empty input', '', []],
  [
    'invalid YAML names the line and column',
    'a: 1\nb: [1, 2\nc: 3\n',
    {
      error: 'InputYamlError',
      message: expect.stringMatching(/^in\.yaml:\d+:\d+: invalid YAML: /),
      locations: [{ where: 'in.yaml', line: expect.any(Number), column: expect.any(Number) }],
    },
  ],
  [
    'duplicate keys are refused',
    'a: 1\na: 2\n',
    { error: 'InputYamlError', message: 'in.yaml:2:1: invalid YAML: Map keys must be unique', locations: [{ where: 'in.yaml', line: 2, column: 1 }] },
  ],
  [
    'deep nesting is refused with its path',
    `${'['.repeat(100)}1${']'.repeat(100)}`,
    {
      error: 'InputTooDeepError',
      message: `in.yaml:1: nesting deeper than 64 levels at ${'[0]'.repeat(64)}: flatten the input`,
      locations: [{ where: `in.yaml:1 ${'[0]'.repeat(64)}` }],
    },
  ],
])('%s', (_name, text, want) => {
  expect(outcome(text)).toEqual(want);
});

test('checkDepth itself does not recurse (100k levels)', () => {
  let v: unknown = 1;
  for (let i = 0; i < 100_000; i++) v = [v];
  expect(() => checkDepth(v, 'x')).toThrow(InputTooDeepError);
  expect(InputYamlError.name).toBe('InputYamlError');
});
