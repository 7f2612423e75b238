/**
 * The cross-language check run when the addon loads: the C side exports its tables (the cipher
 * rows of native/src/esp_ciphers.c through espTransforms(), the counter and drop names of
 * native/src/dp.h through dpNames()) and this compares them with the TypeScript ones, by key and
 * by name, never by position. A mismatch (a cipher added on one side only, a size typed
 * differently, a drop reason renamed) makes the loader refuse the addon with the difference
 * spelled out, instead of letting the two datapaths disagree at run time.
 */
import { ENCR_TRANSFORMS, INTEG_TRANSFORMS } from '../ike/crypto/transforms.js';

/** One row of espTransforms().encr (native/src/esp.h esp_cipher_t). */
export interface NativeEncrRow {
  id: number; keyBits: number; name: string; keyBytes: number; saltBytes: number; ivBytes: number; icvBytes: number; align: number; block: number;
}

/** One row of espTransforms().integ (native/src/esp.h esp_integ_t). */
export interface NativeIntegRow {
  id: number; name: string; keyBytes: number; icvBytes: number;
}

export interface NativeTransforms {
  encr: NativeEncrRow[];
  integ: NativeIntegRow[];
}

/** The names dpNames() exports for each of the engine's output arrays, in C order. */
export interface NativeNames {
  counters: string[];
  tunnelStats: string[];
  drops: string[];
}

/** Differences between the C cipher table and the TypeScript one; empty when they agree. */
export function transformMismatches(c: NativeTransforms): string[] {
  const out: string[] = [];
  const ts = new Map(ENCR_TRANSFORMS.map((t) => [`${t.id}/${t.keyBits}`, {
    id: t.id, keyBits: t.keyBits, name: t.name, keyBytes: t.keyBytes, saltBytes: t.saltBytes, ivBytes: t.ivBytes,
    icvBytes: t.icvBytes, align: t.blockSize, block: t.ctBlock,
  } satisfies NativeEncrRow]));
  const cRows = new Map(c.encr.map((r) => [`${r.id}/${r.keyBits}`, r]));
  for (const [k, want] of ts) {
    const got = cRows.get(k);
    if (!got) out.push(`encryption ${want.name} (${k}) is missing from native/src/esp_ciphers.c`);
    else out.push(...fieldDiffs(`encryption ${want.name} (${k})`, want, got));
  }
  for (const [k, got] of cRows) if (!ts.has(k)) out.push(`encryption ${got.name} (${k}) is in native/src/esp_ciphers.c but not in src/ike/crypto/transforms.ts`);
  const cInteg = new Map(c.integ.map((r) => [r.id, r]));
  for (const [id, i] of INTEG_TRANSFORMS) {
    const got = cInteg.get(id);
    const want: NativeIntegRow = { id, name: i.name, keyBytes: i.keyBytes, icvBytes: i.icvBytes };
    if (!got) out.push(`integrity ${i.name} (${id}) is missing from native/src/esp_ciphers.c`);
    else out.push(...fieldDiffs(`integrity ${i.name} (${id})`, want, got));
  }
  for (const [id, got] of cInteg) if (!INTEG_TRANSFORMS.has(id)) out.push(`integrity ${got.name} (${id}) is in native/src/esp_ciphers.c but not in src/ike/crypto/transforms.ts`);
  return out;
}

function fieldDiffs<T extends object>(what: string, want: T, got: T): string[] {
  return (Object.keys(want) as (keyof T)[])
    .filter((f) => want[f] !== got[f])
    .map((f) => `${what}: ${String(f)} is ${JSON.stringify(got[f])} in C, ${JSON.stringify(want[f])} in TypeScript`);
}

/** Differences between a C name list and the TypeScript one (as sets: order may differ). */
export function nameMismatches(what: string, c: readonly string[], ts: readonly string[]): string[] {
  const out: string[] = [];
  const cs = new Set(c);
  const tss = new Set(ts);
  if (cs.size !== c.length) out.push(`${what}: the C list names one entry twice`);
  for (const n of ts) if (!cs.has(n)) out.push(`${what}: "${n}" is missing from native/src/dp.h`);
  for (const n of c) if (!tss.has(n)) out.push(`${what}: "${n}" is in native/src/dp.h but not in the TypeScript list`);
  return out;
}

/**
 * Where each TypeScript name sits in the C array: index[i] is the C position of names[i]. The
 * native side fills its arrays in C order; the TypeScript side reads them through this.
 */
export function positions(c: readonly string[], names: readonly string[]): Uint16Array {
  return Uint16Array.from(names, (n) => c.indexOf(n));
}
