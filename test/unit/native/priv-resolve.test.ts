/**
 * Name resolution in native/src/priv.c (through src/native/privileges.ts), against glibc's own
 * tools as the known answer: `getent passwd|group` (the same NSS lookup by another program) and
 * `id -G` (coreutils, the supplementary groups initgroups(3) would set). Also the argument
 * checks of both exports: hostile values throw TypeError/RangeError before any system call, so
 * privDrop is only ever called here with arguments that cannot pass them (a valid call would
 * switch this test process).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadNativePrivileges, PrivilegeError, resolveIdentity, type NativePrivilegesApi } from '../../../src/native/privileges.js';

function api(): NativePrivilegesApi {
  const n = loadNativePrivileges();
  if (!n.api) throw new Error(`the native addon must be built for this test (npm ci): ${n.reason}`);
  return n.api;
}

const getent = (db: string, key: string): string[] => execFileSync('getent', [db, key], { encoding: 'utf8' }).trim().split(':');
const idGroups = (user: string): number[] => execFileSync('id', ['-G', user], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);

describe('resolveIdentity (getpwnam_r / getgrnam_r / getgrouplist)', () => {
  it('nobody and root resolve as getent and id report them', () => {
    for (const user of ['nobody', 'root']) {
      const [name, , uid, gid] = getent('passwd', user);
      const id = resolveIdentity(user);
      expect(id).toMatchObject({ user: name, uid: Number(uid), gid: Number(gid), userFound: true });
      expect(id.group).toBe(getent('group', gid!)[0]);
      expect([...id.groups].sort((a, b) => a - b)).toEqual([...idGroups(user)].sort((a, b) => a - b));
    }
  });

  it('a group overrides the primary group; numbers work for both', () => {
    const [, , nogroupGid] = getent('group', 'nogroup');
    const named = resolveIdentity('nobody', 'nogroup');
    expect(named).toMatchObject({ user: 'nobody', gid: Number(nogroupGid), group: 'nogroup' });
    expect(named.groups).toContain(Number(nogroupGid));
    const [, , uid] = getent('passwd', 'nobody');
    expect(resolveIdentity(uid!, nogroupGid)).toMatchObject({ user: 'nobody', uid: Number(uid), gid: Number(nogroupGid), group: 'nogroup' });
    // The primary group of root as a number: getgrouplist(3) puts it into the list.
    expect(resolveIdentity('root', '0').groups).toContain(0);
  });

  it('a uid without a passwd entry works only with an explicit group', () => {
    const free = 4_000_123; // far above any system or login range
    expect(() => execFileSync('getent', ['passwd', String(free)])).toThrow();
    expect(resolveIdentity(String(free), String(free + 1))).toEqual({
      uid: free, gid: free + 1, user: String(free), group: String(free + 1), groups: [free + 1], userFound: false });
    const e = (() => { try { resolveIdentity(String(free)); } catch (x) { return x; } })();
    expect(e).toBeInstanceOf(PrivilegeError);
    expect(e).toMatchObject({ code: 'unknown-group', message: `uid ${free} has no passwd entry, so it has no primary group: name one as the group` });
  });

  it('unknown names are errors that name them', () => {
    const user = (() => { try { resolveIdentity('bg-no-such-user-7f3'); } catch (x) { return x; } })();
    expect(user).toMatchObject({ code: 'unknown-user', sysCode: 'ENOUSER',
      message: "no user named 'bg-no-such-user-7f3' in the passwd database (getpwnam_r through NSS found none)" });
    const group = (() => { try { resolveIdentity('nobody', 'bg-no-such-group-7f3'); } catch (x) { return x; } })();
    expect(group).toMatchObject({ code: 'unknown-group', message: "no group named 'bg-no-such-group-7f3' in the group database (getgrnam_r through NSS found none)" });
  });
});

describe('argument checks (before any system call)', () => {
  it('privResolve refuses non-strings, empty, overlong and NUL-carrying names', () => {
    const a = api();
    expect(() => a.privResolve(5 as unknown as string, null)).toThrow(TypeError);
    expect(() => a.privResolve('', null)).toThrow(/user must be 1 to 255 bytes/);
    expect(() => a.privResolve('x'.repeat(300), null)).toThrow(RangeError);
    expect(() => a.privResolve('root\0x', null)).toThrow(/contains a NUL character/);
    expect(() => a.privResolve('root', 7 as unknown as string)).toThrow(/group must be a string/);
    expect(() => (a.privResolve as (...x: unknown[]) => unknown)('root')).toThrow(/both arguments are required/);
  });

  it('privDrop refuses uid/gid 0 and (id_t)-1, non-arrays, capabilities above 63 and too many groups', () => {
    const a = api();
    const before = readFileSync('/proc/self/status', 'utf8').split('\n').filter((l) => /^(Uid|Gid|Cap)/.test(l));
    expect(() => a.privDrop(0, 65534, [], [12])).toThrow(/uid must be an integer from 1 to 4294967294 \(got 0\)/);
    expect(() => a.privDrop(65534, 0, [], [12])).toThrow(/gid must be an integer from 1/);
    expect(() => a.privDrop(0xffffffff, 65534, [], [12])).toThrow(RangeError);
    expect(() => a.privDrop(1.5, 65534, [], [12])).toThrow(RangeError);
    expect(() => a.privDrop(65534, 65534, 'x' as unknown as number[], [12])).toThrow(/groups must be an array/);
    expect(() => a.privDrop(65534, 65534, [], [64])).toThrow(/keep must be an integer from 0 to 63/);
    expect(() => a.privDrop(65534, 65534, [-1], [12])).toThrow(RangeError);
    expect(() => a.privDrop(65534, 65534, new Array<number>(70_000).fill(1), [12])).toThrow(/at most 65536/);
    expect(() => (a.privDrop as (...x: unknown[]) => unknown)(65534, 65534, [])).toThrow(/four arguments/);
    expect(readFileSync('/proc/self/status', 'utf8').split('\n').filter((l) => /^(Uid|Gid|Cap)/.test(l)), 'nothing changed').toEqual(before);
  });
});
