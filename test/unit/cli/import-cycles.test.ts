/**
 * Import cycles in src/: every relative import (static, type-only and dynamic `import()`) is an
 * edge; a depth-first search reports each back edge as a cycle. The command line, the control
 * socket, the config loader, systemd and the lab must be in none (cli.ts ↔ lab/cli.ts was one).
 * Cycles inside the IKE engine and the datapath types exist and are outside this test's scope.
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

  it('has no cycle through the CLI, control, config, systemd or lab modules', () => {
    const all = files(SRC);
    expect(all.length).toBeGreaterThan(50);
    const ours = /^(cli\.ts|cli\/|control\/|config\/|config-file\.ts|systemd\/|lab\/|log\.ts|daemon\.ts)/;
    expect(findCycles(all).filter((c) => c.some((f) => ours.test(f)))).toEqual([]);
  });
});
