/**
 * The package version and whether the native fast path is loaded. `branchgate version` and the
 * status document both read from here, so they can never disagree.
 */
import { readFileSync } from 'node:fs';
import { loadNative } from './net/tun.js';

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

/**
 * Whether the native addon (native/, loaded by net/tun.ts) is usable. The reason names the file
 * when it is loaded and the remedy when it is not (not built, built for another Node,
 * BRANCHGATE_NO_NATIVE=1).
 */
export function nativeFastPath(): NativeFastPathStatus {
  const { api, reason } = loadNative();
  return { loaded: api !== null, reason };
}
