/**
 * docs/contract.md is the user-facing contract for configuration keys: every key the schema
 * accepts must be documented there, and every documented key must exist. The page has one
 * "### `section`" heading per object section with a table whose first column is the key.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_SECTIONS, knownKeys } from '../../src/config/schema.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CONTRACT = readFileSync(join(ROOT, 'docs', 'contract.md'), 'utf8');

/** section path ('' for "Top level") → keys in its table's first column. */
function documentedKeys(md: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const config = md.slice(md.indexOf('## Configuration'), md.indexOf('## The status document'));
  for (const block of config.split(/^### /m).slice(1)) {
    const heading = block.slice(0, block.indexOf('\n')).trim();
    const section = heading === 'Top level' ? '' : heading.replace(/`/g, '').replace(/\[\]/g, '');
    const keys = [...block.matchAll(/^\| `([A-Za-z0-9]+)` \|/gm)].map((m) => m[1]!);
    out.set(section, keys);
  }
  return out;
}

describe('docs/contract.md documents the configuration schema', () => {
  const docs = documentedKeys(CONTRACT);

  it('has a table for every section of the schema, and no table for a section that does not exist', () => {
    expect([...docs.keys()].sort()).toEqual([...CONFIG_SECTIONS].sort());
  });

  it.each(CONFIG_SECTIONS.map((s) => [s === '' ? '(top level)' : s, s] as const))('section %s: the same keys as the schema', (_label, section) => {
    const schemaKeys = knownKeys(section === '' ? [] : section.split('.'));
    expect(schemaKeys.length).toBeGreaterThan(0);
    expect([...(docs.get(section) ?? [])].sort()).toEqual([...schemaKeys].sort());
  });
});
