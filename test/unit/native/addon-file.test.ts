/**
 * The one loader of branchgate_native.node: a build that lacks an export is reported as stale,
 * naming what is missing and how to rebuild, instead of failing later at the first call.
 */
import { describe, expect, it } from 'vitest';
import { loadAddonFile } from '../../../src/native/addon-file.js';

describe('loadAddonFile', () => {
  it('loads the built addon and hands back its exports', () => {
    const load = loadAddonFile('native addon', ['open', 'espSeal', 'privResolve']);
    if (!load.ok) throw new Error(`the addon must be built for the unit tests: ${load.reason}`);
    expect(load.path).toMatch(/native\/build\/(Release|Debug)\/branchgate_native\.node$/);
    expect(typeof load.mod.espSeal).toBe('function');
  });

  it('reports a build without a needed export as stale, with the remedy', () => {
    const load = loadAddonFile('native TUN addon', ['open', 'noSuchExport', 'alsoMissing']);
    expect(load.ok).toBe(false);
    if (load.ok) return;
    expect(load.reason).toContain('native TUN addon at ');
    expect(load.reason).toContain('is stale (missing noSuchExport, alsoMissing)');
    expect(load.reason).toContain('npm run build:native');
    expect(load.path).not.toBeNull();
  });
});
