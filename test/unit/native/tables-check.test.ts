/**
 * The cross-language tables (src/native/tables-check.ts): the built addon's cipher rows and
 * counter/drop names must equal the TypeScript ones, and any drift (a row on one side only, a
 * size typed differently, a drop reason renamed) is named at load instead of surfacing as two
 * datapaths that disagree. Needs the built addon; without it the test FAILS with the reason.
 */
import { describe, expect, it } from 'vitest';
import { ENCR_TRANSFORMS } from '../../../src/ike/crypto/transforms.js';
import { ESP_DROP_REASONS, fromArray } from '../../../src/dataplane/drops.js';
import { DP_COUNTERS, DP_TUNNEL_STATS } from '../../../src/native/dp-api.js';
import { loadNativeDataplane, loadNativeEsp } from '../../../src/native/esp-native.js';
import { nameMismatches, positions, transformMismatches, type NativeTransforms } from '../../../src/native/tables-check.js';

function addon() {
  const l = loadNativeDataplane();
  if (l.api === null) throw new Error(`the tables check needs the built addon: ${l.reason}`);
  return l.api;
}

const clone = (t: NativeTransforms): NativeTransforms => JSON.parse(JSON.stringify(t)) as NativeTransforms;

describe('native tables against the TypeScript ones', () => {
  it('the built addon agrees: every cipher row, every counter and drop name', () => {
    const api = addon();
    const t = api.espTransforms();
    expect(transformMismatches(t)).toEqual([]);
    expect(t.encr.map((r) => `${r.id}/${r.keyBits}`).sort()).toEqual(ENCR_TRANSFORMS.map((r) => `${r.id}/${r.keyBits}`).sort());
    const n = api.dpNames();
    expect(nameMismatches('drops', n.drops, ESP_DROP_REASONS)).toEqual([]);
    expect(nameMismatches('counters', n.counters, DP_COUNTERS)).toEqual([]);
    expect(nameMismatches('stats', n.tunnelStats, DP_TUNNEL_STATS)).toEqual([]);
    expect(loadNativeEsp().api).not.toBeNull();
  });

  it('a cipher on one side only, or a size that differs, is named', () => {
    const real = addon().espTransforms();
    const missing = clone(real);
    const gone = missing.encr.pop()!;
    expect(transformMismatches(missing)).toEqual([`encryption ${gone.name} (${gone.id}/${gone.keyBits}) is missing from native/src/esp_ciphers.c`]);
    const extra = clone(real);
    extra.encr.push({ ...extra.encr[0]!, id: 3, keyBits: 192, name: '3DES' });
    expect(transformMismatches(extra)).toEqual(['encryption 3DES (3/192) is in native/src/esp_ciphers.c but not in src/ike/crypto/transforms.ts']);
    const wrong = clone(real);
    const row = wrong.encr.find((r) => r.name === 'AES_GCM_16_256')!;
    row.icvBytes = 12;
    expect(transformMismatches(wrong)).toEqual(['encryption AES_GCM_16_256 (20/256): icvBytes is 12 in C, 16 in TypeScript']);
    const integ = clone(real);
    integ.integ[0]!.keyBytes = 16;
    expect(transformMismatches(integ)).toHaveLength(1);
  });

  it('drop names are matched by name: another order reads the same counts, a renamed one is refused', () => {
    const reversed = [...ESP_DROP_REASONS].reverse();
    expect(nameMismatches('drops', reversed, ESP_DROP_REASONS)).toEqual([]);
    const at = positions(reversed, ESP_DROP_REASONS);
    const cOrder = Float64Array.from(reversed, (_, i) => i + 1); // C slot i holds i + 1
    const counts = fromArray(cOrder, at);
    expect(counts[ESP_DROP_REASONS[0]!]).toBe(ESP_DROP_REASONS.length); // the first TS name is the last C slot
    expect(counts[reversed[0]!]).toBe(1);
    const renamed = ESP_DROP_REASONS.map((r) => (r === 'oversize' ? 'rx-oversize' : r));
    expect(nameMismatches('drops', renamed, ESP_DROP_REASONS)).toEqual([
      'drops: "oversize" is missing from native/src/dp.h',
      'drops: "rx-oversize" is in native/src/dp.h but not in the TypeScript list',
    ]);
  });
});
