/**
 * The package version and whether the native fast path is loaded. `branchgate version` and the
 * status document both read from here, so they can never disagree.
 */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

/**
 * Read from package.json rather than hard-coded, so a release bump is a one-line change.
 * The URL is relative to this module: src/version.ts (vitest) and dist/version.js (built) both
 * sit one directory below the package root.
 */
export function packageVersion(): string {
  if (cached !== undefined) return cached;
  try {
    const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
    const parsed: unknown = JSON.parse(text);
    const v =
      typeof parsed === 'object' && parsed !== null && 'version' in parsed ? parsed.version : undefined;
    cached = typeof v === 'string' ? v : '0.0.0-unknown';
  } catch {
    // A broken install must still be able to say *something* in `branchgate version`.
    cached = '0.0.0-unknown';
  }
  return cached;
}

export interface NativeFastPathStatus {
  loaded: boolean;
  reason: string;
}

/** The native addon (TUN, batched UDP/ESP) is a later issue; report honestly until it exists. */
export function nativeFastPath(): NativeFastPathStatus {
  return { loaded: false, reason: 'native addon not built yet (ESP datapath issue)' };
}
