/**
 * native/src/priv.c's switch, in a child Node process (it cannot be undone, so never in the test
 * runner): started as root, with the libuv pool and the native dataplane's two I/O threads
 * running, it switches to nobody:nogroup keeping CAP_NET_ADMIN + CAP_NET_BIND_SERVICE.
 *
 * Known answers from other implementations: each thread's /proc/PID/task/TID/status (the
 * kernel), and util-linux `setpriv --dump` run as a child of the switched process, which reads
 * its credentials, bounding and ambient sets with its own code (libcap-ng / prctl). That the
 * child shows the two ambient capabilities is what lets `ip` and BIRD work after the switch.
 *
 * Needs root (it switches users): fails, never skips, when not root.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ADDON = fileURLToPath(new URL('../../../native/build/Release/branchgate_native.node', import.meta.url));

/** Warms up threads, switches, then reports every thread's status and `setpriv --dump`. */
const CHILD = `
const m = require(process.env.ADDON);
const fs = require('fs'), cp = require('child_process'), crypto = require('crypto');
let left = 4;
for (let i = 0; i < 4; i++) crypto.pbkdf2('x', 'y', 1000, 32, 'sha256', () => { if (--left === 0) go(); });
function go() {
  const dp = m.dpCreate(() => {});
  const out = {};
  try {
    if (process.env.MODE === 'drop') m.privDrop(65534, 65534, [65534], [10, 12]);
    if (process.env.MODE === 'ambient') m.privRaiseAmbient([10, 12]);
  } catch (e) {
    out.error = { code: e.code, message: e.message };
  }
  out.tasks = fs.readdirSync('/proc/self/task').map((t) => fs.readFileSync('/proc/self/task/' + t + '/status', 'utf8'));
  out.setpriv = cp.execFileSync('setpriv', ['--dump'], { encoding: 'utf8' });
  out.childCaps = cp.execFileSync('/bin/sh', ['-c', 'grep ^Cap /proc/self/status'], { encoding: 'utf8' });
  m.dpClose(dp);
  process.stdout.write(JSON.stringify(out));
}
`;

interface ChildReport { error?: { code: string; message: string }; tasks: string[]; setpriv: string; childCaps: string }

let dir = '';
let script = '';
beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('priv-drop tests switch users in a child process: run them as root (CI does)');
  dir = mkdtempSync(join(tmpdir(), 'bg-priv-'));
  script = join(dir, 'child.cjs');
  writeFileSync(script, CHILD);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the child (MODE drop|ambient|none), optionally through setpriv and with another node binary. */
function child(prefix: string[] = [], mode = 'drop', node = process.execPath): ChildReport {
  const argv = [...prefix, node, script];
  const r = spawnSync(argv[0]!, argv.slice(1), { env: { ...process.env, ADDON, MODE: mode }, encoding: 'utf8', timeout: 15_000 });
  if (r.status !== 0) throw new Error(`child exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as ChildReport;
}

const line = (status: string, key: string): string => status.split('\n').find((l) => l.startsWith(`${key}:`))?.split(':')[1]?.trim() ?? '';

describe('privDrop in a child process started as root', () => {
  it('every thread is nobody; the main thread has exactly the two capabilities in every set; setpriv agrees', () => {
    const r = child();
    expect(r.error).toBeUndefined();
    // main + V8 platform threads + 4 libuv pool threads + bg-dp-tx + bg-dp-rx
    expect(r.tasks.length).toBeGreaterThanOrEqual(8);
    expect(r.tasks.map((t) => line(t, 'Name'))).toEqual(expect.arrayContaining(['bg-dp-tx', 'bg-dp-rx']));
    for (const t of r.tasks) {
      expect(line(t, 'Uid').split(/\s+/), line(t, 'Name')).toEqual(['65534', '65534', '65534', '65534']);
      expect(line(t, 'Gid').split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
    }
    const main = r.tasks[0]!; // the thread group leader is listed first
    for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(line(main, k), k).toBe('0000000000001400');
    for (const t of r.tasks.slice(1)) expect([line(t, 'CapPrm'), line(t, 'CapEff')]).toEqual(['0000000000000000', '0000000000000000']);
    expect(r.setpriv).toContain('uid: 65534\neuid: 65534\ngid: 65534\negid: 65534\nSupplementary groups: 65534\nno_new_privs: 1\n');
    expect(r.setpriv).toContain('Ambient capabilities: net_bind_service,net_admin\n');
    expect(r.setpriv).toContain('Capability bounding set: net_bind_service,net_admin\n');
  });

  it('root without CAP_SETUID is refused before anything changes', () => {
    const r = child(['setpriv', '--bounding-set', '-setuid', '--inh-caps', '-setuid']);
    expect(r.error).toEqual({ code: 'EPERM', message: 'root without CAP_SETUID cannot switch users: start branchgate as full root, ' +
      'or start it as the unprivileged user with CAP_NET_ADMIN and CAP_NET_BIND_SERVICE (docs/privileges.md)' });
    expect(line(r.tasks[0]!, 'Uid')).toMatch(/^0\s+0\s+0\s+0$/);
    expect(r.setpriv).toContain('no_new_privs: 0');
  });

  it('a capability to keep that the bounding set lacks (a container without --cap-add NET_ADMIN) is refused before anything changes', () => {
    const r = child(['setpriv', '--bounding-set', '-net_admin']);
    expect(r.error?.code).toBe('EPERM');
    expect(r.error?.message).toMatch(/^capability 12 is not in the bounding set of this process, so it cannot be kept: in a container add it/);
    expect(line(r.tasks[0]!, 'Uid')).toMatch(/^0\s+0\s+0\s+0$/);
  });
});

describe('privRaiseAmbient: a start without root whose capabilities come from file capabilities (the container image)', () => {
  /**
   * A copy of node with file capabilities cap_net_admin,cap_net_bind_service+ep, written as the
   * security.capability xattr (struct vfs_cap_data, VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE,
   * <linux/capability.h>) by Python, so the test needs no libcap tools; started as nobody.
   */
  let capNode = '';
  beforeAll(() => {
    capNode = join(dir, 'node-caps');
    copyFileSync(process.execPath, capNode);
    chmodSync(capNode, 0o755);
    const py = spawnSync('python3', ['-c', `import os, struct; os.setxattr(${JSON.stringify(capNode)}, 'security.capability', struct.pack('<5I', 0x02000001, 0x1400, 0, 0, 0))`], { encoding: 'utf8' });
    if (py.status !== 0) throw new Error(`could not set file capabilities with python3 (apt-get install python3): ${py.stderr}`);
    chmodSync(dir, 0o755); // nobody must reach the binary and the script
  });
  const asNobody = ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups'];

  it('without it, file capabilities do not reach the children: ip and BIRD would run without CAP_NET_ADMIN', () => {
    const r = child(asNobody, 'none', capNode);
    expect(line(r.tasks[0]!, 'CapEff')).toBe('0000000000001400');
    expect(line(r.tasks[0]!, 'CapAmb')).toBe('0000000000000000');
    expect(r.setpriv).toContain('Ambient capabilities: [none]');
    expect(line(r.childCaps, 'CapEff')).toBe('0000000000000000');
  });

  it('with it, the children get exactly the two (setpriv and the child\'s own status agree)', () => {
    const r = child(asNobody, 'ambient', capNode);
    expect(r.error).toBeUndefined();
    expect(line(r.tasks[0]!, 'Uid').split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
    expect(r.setpriv).toContain('Ambient capabilities: net_bind_service,net_admin\n');
    expect(line(r.childCaps, 'CapEff')).toBe('0000000000001400');
    expect(line(r.childCaps, 'CapAmb')).toBe('0000000000001400');
  });

  it('refuses a capability that is not permitted', () => {
    const r = child(asNobody, 'ambient');
    expect(r.error).toEqual({ code: 'EPERM', message: 'capability 10 is not permitted, so it cannot be made ambient' });
  });
});
