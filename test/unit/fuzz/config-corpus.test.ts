/**
 * The config loader on mutated copies of the configurations we ship (config/*.yaml, including the
 * GSA portal one that pulls in a connectivity JSON file): parseConfig never throws, never falls
 * into its catch-all, and every error carries a file:line:col that points inside the file it
 * names (contract.md: `check-config` prints FILE:LINE:COL: message).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatIssue, parseConfig, type ConfigIssue } from '../../../src/config/load.js';
import { REPO_ROOT } from '../../interop/lab/branchgate.js';

const DIR = join(REPO_ROOT, 'config');
const FILES = readdirSync(DIR).filter((n) => n.endsWith('.yaml')).sort().map((n) => ({ path: join(DIR, n), text: readFileSync(join(DIR, n), 'utf8') }));
const ENV = { GSA_PSK: 'shipped-config-fuzz-psk-1', GSA_ZONE_PSK: 'shipped-config-fuzz-psk-2' };
const lineCount = new Map<string, number>();
const linesOf = (file: string): number => {
  if (!lineCount.has(file)) lineCount.set(file, readFileSync(file, 'utf8').split('\n').length);
  return lineCount.get(file)!;
};

type Mutation =
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'insert'; at: number; s: string }
  | { kind: 'swap-lines'; a: number; b: number }
  | { kind: 'dup-line'; a: number }
  | { kind: 'indent'; a: number; by: number }
  | { kind: 'value'; a: number; v: string }
  | { kind: 'truncate'; at: number };

const SYNTAX = [':', '- ', '[', ']', '{', '}', '"', "'", '#', '&a ', '*a', '!!binary ', '\t', '\n', '  ', '%any', '?', '|', '>', ',', '\\', '\u0000', '\ufeff', '0x', '1e999'];
const VALUES = ['', '~', 'null', 'true', '-1', '0', '65536', '4294967296', '1e999', '0.5', '"%any"', '[]', '{}', '999.1.1.1', '1h2', '-5s', '!!str 3', 'a'.repeat(300)];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), s: fc.oneof(fc.constantFrom(...SYNTAX), fc.string({ maxLength: 8 })) }),
  fc.record({ kind: fc.constant('swap-lines' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant('dup-line' as const), a: fc.nat() }),
  fc.record({ kind: fc.constant('indent' as const), a: fc.nat(), by: fc.integer({ min: -4, max: 4 }) }),
  fc.record({ kind: fc.constant('value' as const), a: fc.nat(), v: fc.oneof(fc.constantFrom(...VALUES), fc.string({ maxLength: 12 })) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(text: string, ms: Mutation[]): string {
  let t = text;
  for (const m of ms) {
    const lines = t.split('\n');
    const a = 'a' in m ? m.a % lines.length : 0;
    switch (m.kind) {
      case 'delete': { const at = m.at % (t.length + 1); t = t.slice(0, at) + t.slice(at + m.len); break; }
      case 'insert': { const at = m.at % (t.length + 1); t = t.slice(0, at) + m.s + t.slice(at); break; }
      case 'truncate': t = t.slice(0, m.at % (t.length + 1)); break;
      case 'swap-lines': { const b = m.b % lines.length; [lines[a], lines[b]] = [lines[b]!, lines[a]!]; t = lines.join('\n'); break; }
      case 'dup-line': lines.splice(a, 0, lines[a]!); t = lines.join('\n'); break;
      case 'indent': lines[a] = m.by >= 0 ? ' '.repeat(m.by) + lines[a]! : lines[a]!.slice(Math.min(-m.by, lines[a]!.length - lines[a]!.trimStart().length)); t = lines.join('\n'); break;
      case 'value': {
        // replace the value after the first "key:" on the line (keeps the key, so the schema sees it)
        const l = lines[a]!;
        const c = l.indexOf(': ');
        if (c > 0) lines[a] = `${l.slice(0, c + 2)}${m.v}`;
        t = lines.join('\n');
        break;
      }
    }
  }
  return t;
}

/** Well-formed result: ok, or errors that each point inside the file they name. */
function check(path: string, text: string): 'ok' | 'errors' {
  let r: ReturnType<typeof parseConfig> | undefined;
  expect(() => { r = parseConfig(text, path, ENV); }).not.toThrow();
  const inside = (i: ConfigIssue): void => {
    const max = i.file === path ? text.split('\n').length + 1 : linesOf(i.file) + 1;
    expect(i.line, formatIssue(i)).toBeGreaterThanOrEqual(1);
    expect(i.line, formatIssue(i)).toBeLessThanOrEqual(max);
    expect(i.col, formatIssue(i)).toBeGreaterThanOrEqual(1);
    expect(i.message.length).toBeGreaterThan(0);
    expect(formatIssue(i)).toMatch(/^[^:\n]+:\d+:\d+: /);
  };
  if (!r) throw new Error('unreachable');
  if (r.ok) {
    r.warnings.forEach(inside);
    return 'ok';
  }
  expect(r.errors.length).toBeGreaterThan(0);
  r.errors.forEach(inside);
  // parseConfig's catch-all turns a thrown exception into this message: it means a bug
  expect(r.errors.map((e) => e.message).join('\n')).not.toContain('cannot read this config');
  // the PSK values of the environment never appear in an error
  expect(r.errors.map(formatIssue).join('\n')).not.toMatch(/shipped-config-fuzz-psk/);
  return 'errors';
}

describe('shipped configs, mutated (property)', () => {
  it('every shipped config is valid as shipped (the seeds)', () => {
    expect(FILES.length).toBeGreaterThanOrEqual(5);
    for (const f of FILES) expect(check(f.path, f.text), f.path).toBe('ok');
  });

  // ~3 s alone on the 2-core build machine; more while interop tests share the cores.
  it('parseConfig never throws and every error has file:line:col inside the file', () => {
    const seen = { ok: 0, errors: 0 };
    fc.assert(
      fc.property(fc.nat(FILES.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, ms) => {
        const f = FILES[i]!;
        seen[check(f.path, mutate(f.text, ms))]++;
      }),
      { numRuns: 800 },
    );
    // the mutations reach both outcomes, so the property is not only about YAML syntax errors
    expect(seen.ok).toBeGreaterThan(0);
    expect(seen.errors).toBeGreaterThan(0);
  }, 90_000);
});
