// `kidp validate --output text|json|junit|github`: the same verdicts (validate.ts), written for
// a person, a program, a CI test report, or GitHub Actions' workflow commands (an annotation
// on the file and line of each denied or warned manifest in the pull request's diff).
import { isAbsolute, relative, sep } from 'node:path';
import { formatVerdict, type ResourceVerdict } from './validate.js';

export const OUTPUT_FORMATS = ['text', 'json', 'junit', 'github'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function isOutputFormat(s: string): s is OutputFormat {
  return (OUTPUT_FORMATS as readonly string[]).includes(s);
}

export interface OutputOptions {
  /** Paths are printed relative to this directory when under it (GitHub wants repository-relative paths). */
  cwd: string;
}

function displayPath(file: string, cwd: string): string {
  if (!isAbsolute(file)) return file.split(sep).join('/');
  const rel = relative(cwd, file);
  return rel.startsWith('..') || isAbsolute(rel) ? file : rel.split(sep).join('/');
}

export interface ValidateSummary {
  resources: number;
  admitted: number;
  warned: number;
  denied: number;
}

export function summarize(verdicts: readonly ResourceVerdict[]): ValidateSummary {
  const count = (v: ResourceVerdict['verdict']) => verdicts.filter((r) => r.verdict === v).length;
  return { resources: verdicts.length, admitted: count('ADMITTED'), warned: count('WARN'), denied: count('DENIED') };
}

const summaryLine = (s: ValidateSummary) => `${s.resources} resources: ${s.admitted} admitted, ${s.warned} with warnings, ${s.denied} denied`;

function json(verdicts: readonly ResourceVerdict[], options: OutputOptions): string[] {
  const body = {
    summary: summarize(verdicts),
    results: verdicts.map((v) => ({ file: displayPath(v.file, options.cwd), line: v.line, resource: v.resource, verdict: v.verdict, messages: v.messages })),
  };
  return [JSON.stringify(body, null, 2)];
}

/** XML 1.0 text and attribute content: the five entities, and no characters XML cannot carry. */
function xml(s: string): string {
  return s
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/**
 * JUnit XML as CI report viewers read it (the Jenkins/Ant schema): one testsuite per file,
 * one testcase per resource; a denial is a failure, warnings go to system-out.
 */
function junit(verdicts: readonly ResourceVerdict[], options: OutputOptions): string[] {
  const byFile = new Map<string, ResourceVerdict[]>();
  for (const v of verdicts) {
    const path = displayPath(v.file, options.cwd);
    byFile.set(path, [...(byFile.get(path) ?? []), v]);
  }
  const s = summarize(verdicts);
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="kidp validate" tests="${s.resources}" failures="${s.denied}" errors="0">`];
  for (const [path, vs] of byFile) {
    const failures = vs.filter((v) => v.verdict === 'DENIED').length;
    lines.push(`  <testsuite name="${xml(path)}" tests="${vs.length}" failures="${failures}" errors="0" skipped="0">`);
    for (const v of vs) {
      const open = `    <testcase classname="${xml(path)}" name="${xml(v.resource)}" file="${xml(path)}" line="${v.line}"`;
      if (v.verdict === 'ADMITTED') {
        lines.push(`${open}/>`);
        continue;
      }
      lines.push(`${open}>`);
      if (v.verdict === 'DENIED') {
        lines.push(`      <failure type="DENIED" message="${xml(v.messages.join('; '))}">${xml(v.messages.join('\n'))}</failure>`);
      } else {
        lines.push(`      <system-out>${xml(v.messages.map((m) => `warning: ${m}`).join('\n'))}</system-out>`);
      }
      lines.push('    </testcase>');
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return lines;
}

// GitHub Actions workflow commands: the message escapes %, CR and LF; property values also
// ':' and ','. (docs.github.com, "Workflow commands for GitHub Actions", and @actions/core's
// command.ts, which escape the same characters.)
const ghData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const ghProperty = (s: string) => ghData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

function github(verdicts: readonly ResourceVerdict[], options: OutputOptions): string[] {
  const lines: string[] = [];
  for (const v of verdicts) {
    if (v.verdict === 'ADMITTED') {
      lines.push(formatVerdict(v));
      continue;
    }
    const command = v.verdict === 'DENIED' ? 'error' : 'warning';
    const props = `file=${ghProperty(displayPath(v.file, options.cwd))},line=${v.line},title=${ghProperty(`kidp validate: ${v.resource} ${v.verdict}`)}`;
    // One annotation per message: each names its rule and what to change.
    for (const m of v.messages) lines.push(`::${command} ${props}::${ghData(m)}`);
  }
  lines.push(summaryLine(summarize(verdicts)));
  return lines;
}

/** The lines `kidp validate --output FORMAT` prints. */
export function formatVerdicts(format: OutputFormat, verdicts: readonly ResourceVerdict[], options: OutputOptions): string[] {
  switch (format) {
    case 'text':
      return verdicts.map(formatVerdict);
    case 'json':
      return json(verdicts, options);
    case 'junit':
      return junit(verdicts, options);
    case 'github':
      return github(verdicts, options);
  }
}
