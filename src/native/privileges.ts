/**
 * The native user switch (native/src/priv.c), loaded through this one module.
 *
 * - resolveIdentity(): user and group names (or numbers) to ids through NSS, with the user's
 *   supplementary groups (getgrouplist), as `id USER` shows them. Changes nothing.
 * - switchUser(): while root, the one-way switch to that identity keeping only the given
 *   capabilities (bounding, permitted, effective, inheritable and ambient sets), in the order
 *   capabilities(7) requires; priv.c documents each step and why.
 * - raiseAmbient(): without root, make permitted capabilities ambient so that the children the
 *   daemon spawns (`ip`, BIRD) inherit them; needed when they came from file capabilities.
 *
 * Both throw PrivilegeError with a `code` the daemon maps to an exit status: unknown-user and
 * unknown-group are configuration errors (exit 2), the rest runtime failures.
 */
import { loadAddonFile } from './addon-file.js';

/** Who the daemon becomes: ids plus the names for messages. */
export interface Identity {
  uid: number;
  gid: number;
  user: string;
  group: string;
  /** Supplementary groups (the primary group included), as setgroups(2) gets them. */
  groups: number[];
  /** False for a bare uid with no passwd entry (then the group was given explicitly). */
  userFound: boolean;
}

/** The exports of priv.c. */
export interface NativePrivilegesApi {
  privResolve(user: string, group: string | null): Identity;
  privDrop(uid: number, gid: number, groups: number[], keep: number[]): void;
  privRaiseAmbient(keep: number[]): void;
}

export type PrivilegeErrorCode = 'unknown-user' | 'unknown-group' | 'lookup-failed' | 'switch-failed' | 'unavailable';

export class PrivilegeError extends Error {
  constructor(
    readonly code: PrivilegeErrorCode,
    message: string,
    /** errno name (EPERM…) when the kernel or NSS refused. */
    readonly sysCode?: string,
  ) {
    super(message);
    this.name = 'PrivilegeError';
  }
}

const EXPORTS = ['privResolve', 'privDrop', 'privRaiseAmbient'] as const;

let loaded: { api: NativePrivilegesApi | null; reason: string } | undefined;

/**
 * The addon's privilege exports, or why not. Never throws. Unlike the datapath, this ignores
 * BRANCHGATE_NO_NATIVE: switching users has no TypeScript fallback, and refusing to drop root
 * because a test flag is set would be the wrong way round.
 */
export function loadNativePrivileges(): { api: NativePrivilegesApi | null; reason: string } {
  loaded ??= tryLoad();
  return loaded;
}

function tryLoad(): { api: NativePrivilegesApi | null; reason: string } {
  if (process.platform !== 'linux') return { api: null, reason: `switching users is implemented for Linux only (this is ${process.platform})` };
  const load = loadAddonFile('native addon', EXPORTS);
  if (!load.ok) return { api: null, reason: load.reason };
  return { api: load.mod as unknown as NativePrivilegesApi, reason: `loaded from ${load.path}` };
}

function requireApi(api?: NativePrivilegesApi): NativePrivilegesApi {
  if (api) return api;
  const n = loadNativePrivileges();
  if (n.api === null) throw new PrivilegeError('unavailable', `cannot switch users: ${n.reason}`);
  return n.api;
}

function sysCode(err: unknown): string | undefined {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'string' ? c : undefined;
}

/** Names (or numbers) to ids. Throws PrivilegeError: unknown-user, unknown-group, lookup-failed. */
export function resolveIdentity(user: string, group?: string, api?: NativePrivilegesApi): Identity {
  const a = requireApi(api);
  try {
    return a.privResolve(user, group ?? null);
  } catch (err) {
    const code = sysCode(err);
    const msg = err instanceof Error ? err.message : String(err);
    if (code === 'ENOUSER') throw new PrivilegeError('unknown-user', msg, code);
    if (code === 'ENOGROUP') throw new PrivilegeError('unknown-group', msg, code);
    throw new PrivilegeError('lookup-failed', msg, code);
  }
}

/**
 * Become `id`, keeping exactly `keep` (capability numbers). Root only; one way. Any error leaves
 * the process in an undefined state between root and `id`: the caller must exit.
 */
export function switchUser(id: Identity, keep: readonly number[], api?: NativePrivilegesApi): void {
  const a = requireApi(api);
  try {
    a.privDrop(id.uid, id.gid, id.groups, [...keep]);
  } catch (err) {
    throw new PrivilegeError('switch-failed', err instanceof Error ? err.message : String(err), sysCode(err));
  }
}

/** Add `keep` (all permitted) to the inheritable and ambient sets of the calling thread. */
export function raiseAmbient(keep: readonly number[], api?: NativePrivilegesApi): void {
  const a = requireApi(api);
  try {
    a.privRaiseAmbient([...keep]);
  } catch (err) {
    throw new PrivilegeError('switch-failed', err instanceof Error ? err.message : String(err), sysCode(err));
  }
}
