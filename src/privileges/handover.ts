/**
 * What must stay writable once the daemon has switched from root to privileges.user, and the
 * hand-over itself.
 *
 * After the switch the daemon still has to
 *   - remove its control socket at stop (write access to the socket's directory),
 *   - let BIRD, which it starts as the same user, create its control socket, and rewrite BIRD's
 *     config on tunnel changes and reloads (bgp.bird.socket / bgp.bird.config directories),
 *   - append to the Wireshark key tables (debug.wiresharkKeys).
 * A directory the daemon creates (as root, mode 0700) is handed to the user; so are the files it
 * owns by path (the socket, BIRD's config and socket from an earlier run, the key tables). A
 * directory that already exists is never chowned: it belongs to the administrator, who must
 * make it writable, and the daemon refuses to start when it is not (checkWritable) rather than
 * fail at stop. The check reads owner, group and mode bits; POSIX ACLs are not consulted.
 */
import { chownSync, existsSync, lstatSync, mkdirSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import type { Config } from '../config/types.js';
import { wiresharkKeyPaths } from '../debug/wireshark-keys.js';
import type { Identity } from '../native/privileges.js';

export interface WritableDir {
  path: string;
  /** What the daemon does there after the switch, for messages. */
  why: string;
}

export interface Handover {
  dirs: WritableDir[];
  /** Files the daemon owns by path: chowned when they exist at the switch. */
  files: string[];
}

/** The directories and files of this config that the user must be able to write. */
export function handoverFor(config: Config, socketPath: string): Handover {
  const sock = resolve(socketPath);
  const dirs: WritableDir[] = [{ path: dirname(sock), why: 'remove the control socket at stop' }];
  const files = [sock];
  const bird = config.bgp?.bird;
  if (bird) {
    const conf = resolve(bird.config);
    const ctl = resolve(bird.socket);
    dirs.push({ path: dirname(conf), why: 'rewrite BIRD\'s config (bgp.bird.config) on tunnel changes and reloads' });
    dirs.push({ path: dirname(ctl), why: 'let BIRD, started as the same user, create its control socket (bgp.bird.socket)' });
    files.push(conf, `${conf}.tmp`, ctl);
  }
  const keys = config.debug.wiresharkKeys;
  if (keys !== undefined) {
    const p = wiresharkKeyPaths(resolve(keys));
    dirs.push({ path: resolve(keys), why: 'append to the Wireshark key tables (debug.wiresharkKeys)' });
    files.push(p.esp, p.ikev2);
  }
  const seen = new Set<string>();
  return { dirs: dirs.filter((d) => !seen.has(d.path) && seen.add(d.path)), files: [...new Set(files)] };
}

/** The levels of `dir` that do not exist yet, outermost first: what a recursive mkdir creates. */
export function missingLevels(dir: string, exists: (p: string) => boolean = existsSync): string[] {
  const out: string[] = [];
  for (let p = resolve(dir); !exists(p); p = dirname(p)) {
    out.unshift(p);
    if (dirname(p) === p) break;
  }
  return out;
}

/** May `id` do `bits` (4 read, 2 write, 1 search) on this inode? Owner, then group, then other. */
export function permits(st: Pick<Stats, 'uid' | 'gid' | 'mode'>, id: Pick<Identity, 'uid' | 'gid' | 'groups'>, bits: number): boolean {
  const shift = st.uid === id.uid ? 6 : st.gid === id.gid || id.groups.includes(st.gid) ? 3 : 0;
  return ((st.mode >> shift) & bits) === bits;
}

function describe(st: Pick<Stats, 'uid' | 'gid' | 'mode'>): string {
  return `owner ${st.uid}, group ${st.gid}, mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;
}

/**
 * Problems, one sentence each, for directories `id` could not use after the switch: an existing
 * ancestor it cannot search, or an existing directory it cannot write. Missing levels are fine:
 * the daemon creates them and hands them over.
 */
export function checkWritable(dirs: readonly WritableDir[], id: Identity, stat: (p: string) => Stats = statSync): string[] {
  const problems: string[] = [];
  for (const d of dirs) {
    const path = resolve(d.path);
    const levels = path.split(sep).filter(Boolean).map((_, i, a) => sep + a.slice(0, i + 1).join(sep));
    for (const p of [sep, ...levels]) {
      let st: Stats;
      try {
        st = stat(p);
      } catch {
        break; // from here on the daemon creates the levels itself
      }
      if (p !== path) {
        if (!st.isDirectory()) {
          problems.push(`${p} is not a directory, so ${path} cannot exist`);
          break;
        }
        if (!permits(st, id, 1)) {
          problems.push(`${p} (${describe(st)}) cannot be searched by ${id.user}, who must reach ${path} to ${d.why}: ` +
            `chmod o+x ${p}, or move the path`);
          break;
        }
        continue;
      }
      if (!st.isDirectory()) problems.push(`${path} is not a directory (needed to ${d.why})`);
      else if (!permits(st, id, 3)) {
        problems.push(`${path} (${describe(st)}) is not writable by ${id.user}, who must ${d.why} after dropping root: ` +
          `chown ${id.user} ${path} (or use a directory ${id.user} can write)`);
      }
    }
  }
  return problems;
}

/**
 * While still root: create the directories that do not exist (0700), then give the user every
 * level the daemon created (`created`, from missingLevels before anything was opened) and every
 * owned file that exists. Returns what was chowned, for the log.
 */
export function handOver(h: Handover, created: readonly string[], id: Identity): string[] {
  for (const d of h.dirs) mkdirSync(d.path, { recursive: true, mode: 0o700 });
  const done: string[] = [];
  for (const p of created) {
    if (!existsSync(p)) continue;
    chownSync(p, id.uid, id.gid);
    done.push(p);
  }
  for (const f of h.files) {
    let st: Stats;
    try {
      st = lstatSync(f);
    } catch {
      continue; // not there: it will be created by the user
    }
    if (st.isSymbolicLink()) continue; // never follow a link planted where our file should be
    chownSync(f, id.uid, id.gid);
    done.push(f);
  }
  return done;
}
