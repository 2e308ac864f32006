// Reading user files (manifests, policies, suites, --vars): multi-document YAML or JSON,
// with errors that name the file, line and column, and a depth guard so a pathological
// input is refused with a message instead of overflowing a stack somewhere later.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import { InputInvalidError, InputTooDeepError, InputYamlError } from '../policy/errors.js';

/**
 * Deeper than any real manifest (a Deployment is ~12 levels); the CEL evaluator and JSON
 * walkers recurse per level, so this bounds their stack use.
 */
export const MAX_INPUT_DEPTH = 64;

export interface YamlDocument {
  file: string;
  /** 0-based index of the document in its file. */
  index: number;
  /** 1-based line where the document starts. */
  line: number;
  value: unknown;
}

/** Throws InputTooDeepError naming the path where `value` first nests deeper than `max`. */
export function checkDepth(value: unknown, where: string, max = MAX_INPUT_DEPTH): void {
  // Iterative so that the check itself cannot overflow the stack.
  const stack: { v: unknown; depth: number; path: string }[] = [{ v: value, depth: 0, path: '' }];
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= max) {
      throw new InputTooDeepError(`${where}: nesting deeper than ${max} levels at ${path || '(root)'}: flatten the input`, {
        locations: [{ where: `${where} ${path}` }],
      });
    }
    if (Array.isArray(v)) v.forEach((item, i) => stack.push({ v: item, depth: depth + 1, path: `${path}[${i}]` }));
    else for (const [k, item] of Object.entries(v)) stack.push({ v: item, depth: depth + 1, path: path ? `${path}.${k}` : k });
  }
}

export interface ParseOptions {
  /** Integers as bigint, so `1` (int) and `1.0` (double) stay apart, as CEL needs for --vars. */
  intAsBigInt?: boolean;
}

/** Parses every document of a YAML (or JSON) text; empty documents are skipped. */
export function parseYamlDocuments(text: string, file: string, options: ParseOptions = {}): YamlDocument[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true, intAsBigInt: options.intAsBigInt ?? false });
  const out: YamlDocument[] = [];
  // parseAllDocuments returns an EmptyStream (not an array) for an empty text.
  if (!Array.isArray(docs)) return out;
  for (const [index, doc] of docs.entries()) {
    const problem = doc.errors[0];
    if (problem) {
      const pos = lineCounter.linePos(problem.pos[0]);
      const message = problem.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? 'invalid YAML';
      throw new InputYamlError(`${file}:${pos.line}:${pos.col}: invalid YAML: ${message}`, {
        cause: problem,
        locations: [{ where: file, line: pos.line, column: pos.col }],
      });
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      throw new InputYamlError(`${file}: document ${index + 1}: ${(err as Error).message}`, {
        cause: err,
        locations: [{ where: file }],
      });
    }
    // An empty document (a trailing `---`) is nothing, not a null object.
    if (value === null || value === undefined) continue;
    const line = lineCounter.linePos(doc.contents?.range[0] ?? doc.range[0]).line;
    checkDepth(value, `${file}:${line}`);
    out.push({ file, index, line, value });
  }
  return out;
}

export function readYamlFile(file: string, options: ParseOptions = {}): YamlDocument[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputInvalidError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      cause: err,
      locations: [{ where: file }],
    });
  }
  return parseYamlDocuments(text, file, options);
}

const YAML_FILE = /\.(ya?ml|json)$/i;

/** Files under each path (a file, or a directory searched recursively), sorted per path. */
export function expandPaths(paths: readonly string[]): string[] {
  const files: string[] = [];
  const walk = (p: string): void => {
    let st;
    try {
      st = statSync(p);
    } catch (err) {
      throw new InputInvalidError(`${p}: no such file or directory`, { cause: err, locations: [{ where: p }] });
    }
    if (st.isDirectory()) {
      for (const entry of readdirSync(p).sort()) {
        const child = join(p, entry);
        if (statSync(child).isDirectory() || YAML_FILE.test(entry)) walk(child);
      }
    } else {
      files.push(p);
    }
  };
  for (const p of paths) walk(p);
  return files;
}
