/**
 * Finding and loading native/build/…/branchgate_native.node. One file serves three modules, each
 * with its own view of it: src/net/tun.ts (the TUN device), src/native/esp-native.ts (ESP and the
 * dataplane) and src/native/privileges.ts (the user switch). Each names the exports it needs, so
 * a stale build says which are missing and how to rebuild. Never throws: a missing or broken
 * addon is a reason that `branchgate version` and the status document can show.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const ADDON_FILE = 'branchgate_native.node';

/**
 * Relative to this module: src/native/addon-file.ts (vitest) and dist/native/addon-file.js
 * (built) both sit two levels below the package root. Release is what `npm install` builds;
 * Debug is there for `node-gyp rebuild --debug` while working on the C.
 */
const CANDIDATES = [
  new URL(`../../native/build/Release/${ADDON_FILE}`, import.meta.url),
  new URL(`../../native/build/Debug/${ADDON_FILE}`, import.meta.url),
];

export type AddonLoad =
  | { ok: true; mod: Record<string, unknown>; path: string }
  | { ok: false; reason: string; path: string | null };

/** `what` names the view in messages ("native TUN addon", "native addon"). */
export function loadAddonFile(what: string, exports: readonly string[]): AddonLoad {
  const path = CANDIDATES.map((u) => fileURLToPath(u)).find((p) => existsSync(p));
  if (path === undefined) {
    return {
      ok: false,
      path: null,
      reason:
        `${what} not built (no native/build/Release/${ADDON_FILE}): ` +
        'run `npm run build:native` (needs a C compiler, python3 and make)',
    };
  }
  let mod: unknown;
  try {
    mod = createRequire(import.meta.url)(path);
  } catch (err) {
    // Typically a build for another Node major or platform (the addon uses libuv directly).
    const first = String(err instanceof Error ? err.message : err).split('\n')[0];
    return { ok: false, path, reason: `${what} failed to load (${path}: ${first}): rebuild it for this Node with \`npm run build:native\`` };
  }
  if (typeof mod !== 'object' || mod === null) {
    return { ok: false, path, reason: `${what} at ${path} exports nothing: rebuild with \`npm run build:native\`` };
  }
  const record = mod as Record<string, unknown>;
  const missing = exports.filter((k) => typeof record[k] !== 'function');
  if (missing.length > 0) {
    return { ok: false, path, reason: `${what} at ${path} is stale (missing ${missing.join(', ')}): rebuild with \`npm run build:native\`` };
  }
  return { ok: true, mod: record, path };
}
