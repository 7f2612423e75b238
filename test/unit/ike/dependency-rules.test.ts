/**
 * The dependency rules (.dependency-cruiser.cjs, `npm run depcheck`) catch what they are for:
 * depcruise runs with the repository's own config on a scratch source tree, once with each kind
 * of forbidden import and once clean.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../../..');
const BIN = join(REPO, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const CONFIG = join(REPO, '.dependency-cruiser.cjs');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Write `files` (path → source) under a fresh directory with a NodeNext tsconfig.build.json. */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'bg-depcheck-'));
  dirs.push(root);
  const all: Record<string, string> = {
    'tsconfig.build.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['src/**/*.ts'] }),
    ...files,
  };
  for (const [path, text] of Object.entries(all)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

async function violations(root: string): Promise<Violation[]> {
  const args = [BIN, 'src', '--config', CONFIG, '--output-type', 'json'];
  const out = await run(process.execPath, args, { cwd: root }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  const doc = JSON.parse(out.stdout) as { summary: { violations: Violation[] } };
  return doc.summary.violations;
}

const CLEAN = {
  'src/ike/engine.ts': "import { hex } from './spi.js';\nexport const e = hex;\n",
  'src/ike/spi.ts': 'export const hex = 1;\n',
  'src/daemon.ts': "import { e } from './ike/engine.js';\nexport const d = e;\n",
  'src/dataplane/dp.ts': "import { esp } from '../esp/esp.js';\nexport const dp = esp;\n",
  'src/esp/esp.ts': 'export const esp = 1;\n',
};

describe('dependency rules (.dependency-cruiser.cjs)', () => {
  it('a clean tree has no violations', async () => {
    expect(await violations(tree(CLEAN))).toEqual([]);
  });

  it('reports an import cycle, type-only imports included', async () => {
    const v = await violations(tree({
      ...CLEAN,
      'src/ike/a.ts': "import type { B } from './b.js';\nexport interface A { b?: B }\n",
      'src/ike/b.ts': "import type { A } from './a.js';\nexport interface B { a?: A }\n",
    }));
    // One report per cycle, naming both of its modules.
    const cycles = v.filter((x) => x.rule.name === 'no-cycles');
    expect(cycles).toHaveLength(1);
    expect([cycles[0]!.from, cycles[0]!.to].sort()).toEqual(['src/ike/a.ts', 'src/ike/b.ts']);
  });

  it('reports src/ike importing the daemon, sockets, datapath, native addon, control or BGP', async () => {
    const v = await violations(tree({
      ...CLEAN,
      'src/ike/engine.ts': [
        "import { hex } from './spi.js';",
        "import { u } from '../net/udp.js';",
        "import { c } from '../control/server.js';",
        "import type { D } from '../daemon-reload.js';",
        'export const e = [hex, u, c] as unknown as D;',
      ].join('\n'),
      'src/net/udp.ts': 'export const u = 1;\n',
      'src/control/server.ts': 'export const c = 1;\n',
      'src/daemon-reload.ts': 'export type D = number;\n',
    }));
    const sansIo = v.filter((x) => x.rule.name === 'ike-is-sans-io').map((x) => x.to).sort();
    expect(sansIo).toEqual(['src/control/server.ts', 'src/daemon-reload.ts', 'src/net/udp.ts']);
  });

  it('reports src/esp importing src/dataplane', async () => {
    const v = await violations(tree({
      ...CLEAN,
      'src/esp/esp.ts': "import type { T } from '../dataplane/types.js';\nexport const esp = 1 as T;\n",
      'src/dataplane/types.ts': 'export type T = number;\n',
    }));
    expect(v.map((x) => `${x.rule.name} ${x.from} -> ${x.to}`)).toEqual(['esp-below-dataplane src/esp/esp.ts -> src/dataplane/types.ts']);
  });
});
