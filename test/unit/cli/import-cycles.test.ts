/**
 * Import cycles in src/: every relative import (static, type-only and dynamic `import()`) is an
 * edge; a depth-first search reports each back edge as a cycle, and src/ must have none
 * (cli.ts ↔ lab/cli.ts was one). `npm run depcheck` (dependency-cruiser) checks the same rule
 * on static imports; this test also follows `import()` and type-only imports.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..', '..', '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

function edges(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    out.push(resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
  }
  return out;
}

function findCycles(all: string[]): string[][] {
  const graph = new Map(all.map((f) => [f, edges(f).filter((t) => all.includes(t))]));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      if (state.get(t) === 'open') cycles.push([...stack.slice(stack.indexOf(t)), t].map((p) => relative(SRC, p).replace(/^(\.\.\/)+test\/fixtures\//, '')));
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of all) if (!state.has(f)) visit(f);
  return cycles;
}

describe('src/ import graph', () => {
  it('finds a cycle when there is one (the detector works)', () => {
    const dir = resolve(SRC, '..', 'test', 'fixtures', 'import-cycle');
    expect(findCycles(files(dir)).length).toBe(1);
  });

  it('has no cycle', () => {
    const all = files(SRC);
    expect(all.length).toBeGreaterThan(50);
    expect(findCycles(all)).toEqual([]);
  });
});
