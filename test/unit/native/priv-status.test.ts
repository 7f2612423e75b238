/**
 * Capability numbers and /proc status parsing (src/privileges/proc-status.ts), and the checks
 * built on them (src/privileges/daemon-privileges.ts): the daemon uses these to verify its own
 * switch and to refuse to start without a capability it needs.
 *
 * Known answers: the capability numbers come from the installed <linux/capability.h> (the
 * kernel's uapi header), not from our table; the status text layout is proc(5)'s.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CAP_NET_ADMIN, CAP_NET_BIND_SERVICE, CAPABILITY_NAMES, capMask, capNames, parseProcStatus, ProcStatusError, readProcCredentials,
  readThreadCredentials,
} from '../../../src/privileges/proc-status.js';
import { KEPT_CAPABILITIES, missingCapabilities, verifySwitch } from '../../../src/privileges/daemon-privileges.js';
import type { Identity } from '../../../src/native/privileges.js';

const HEADER = '/usr/include/linux/capability.h';

/** A thread's status as proc(5) prints it (Linux 6.x), trimmed to the lines around credentials. */
const STATUS = `Name:\tnode
Umask:\t0022
State:\tS (sleeping)
Tgid:\t4242
Pid:\t4242
PPid:\t1
Uid:\t65534\t65534\t65534\t65534
Gid:\t65534\t65534\t65534\t65534
FDSize:\t64
Groups:\t65534 27 
NStgid:\t4242
CapInh:\t0000000000001400
CapPrm:\t0000000000001400
CapEff:\t0000000000001400
CapBnd:\t0000000000001400
CapAmb:\t0000000000001400
NoNewPrivs:\t1
Seccomp:\t0
`;

describe('capability numbers', () => {
  it('match <linux/capability.h> name for name', () => {
    if (!existsSync(HEADER)) throw new Error(`${HEADER} is missing: apt-get install linux-libc-dev (it comes with the C toolchain npm ci needs)`);
    const defs = new Map<number, string>();
    for (const m of readFileSync(HEADER, 'utf8').matchAll(/^#define\s+(CAP_[A-Z_]+)\s+(\d+)\s*$/gm)) defs.set(Number(m[2]), m[1]!);
    expect(defs.get(10)).toBe('CAP_NET_BIND_SERVICE');
    expect(defs.get(12)).toBe('CAP_NET_ADMIN');
    for (const [n, name] of defs) if (n < CAPABILITY_NAMES.length) expect(CAPABILITY_NAMES[n], `capability ${n}`).toBe(name);
    expect(CAPABILITY_NAMES.length).toBeLessThanOrEqual(Math.max(...defs.keys()) + 1);
    expect([CAP_NET_BIND_SERVICE, CAP_NET_ADMIN]).toEqual([10, 12]);
  });

  it('masks and names: the kept set is 0x1400', () => {
    expect(capMask(KEPT_CAPABILITIES)).toBe(0x1400n);
    expect(capNames(0x1400n)).toEqual(['CAP_NET_BIND_SERVICE', 'CAP_NET_ADMIN']);
    expect(capNames(0x000001ffffffffffn)).toEqual(CAPABILITY_NAMES);
    expect(capNames(1n << 45n)).toEqual(['cap_45']);
    expect(capNames(0n)).toEqual([]);
    expect(() => capMask([64])).toThrow(RangeError);
    expect(() => capMask([-1])).toThrow(RangeError);
  });
});

describe('parseProcStatus', () => {
  it('reads ids, groups and the five capability sets', () => {
    const c = parseProcStatus(STATUS);
    expect(c).toEqual({
      name: 'node', uid: [65534, 65534, 65534, 65534], gid: [65534, 65534, 65534, 65534], groups: [65534, 27],
      capInh: 0x1400n, capPrm: 0x1400n, capEff: 0x1400n, capBnd: 0x1400n, capAmb: 0x1400n, noNewPrivs: true,
    });
  });

  it('reads this process and each of its threads (ids agree with process.getuid/getgid)', () => {
    const self = readProcCredentials();
    expect(self.uid[0]).toBe(process.getuid!());
    expect(self.gid[1]).toBe(process.getegid!());
    const threads = readThreadCredentials();
    expect(threads.has(process.pid)).toBe(true);
    for (const t of threads.values()) expect(t.uid[1]).toBe(process.geteuid!());
  });

  it('refuses malformed or hostile text with the field named', () => {
    const without = (k: string) => STATUS.split('\n').filter((l) => !l.startsWith(`${k}:`)).join('\n');
    expect(() => parseProcStatus(without('Uid'), 'x')).toThrow(/x: no "Uid:" line/);
    expect(() => parseProcStatus(without('CapEff'))).toThrow(/no "CapEff:" line/);
    expect(() => parseProcStatus(STATUS.replace('CapBnd:\t0000000000001400', 'CapBnd:\t1400'))).toThrow(/CapBnd.*16 hex digits/);
    expect(() => parseProcStatus(STATUS.replace('CapEff:\t0000000000001400', 'CapEff:\tzz00000000001400'))).toThrow(ProcStatusError);
    expect(() => parseProcStatus(STATUS.replace('Uid:\t65534\t65534\t65534\t65534', 'Uid:\t1\t2\t3'))).toThrow(/four ids/);
    expect(() => parseProcStatus(STATUS.replace('Uid:\t65534', 'Uid:\t99999999999'))).toThrow(/four ids/);
    expect(() => parseProcStatus(STATUS.replace('Groups:\t65534 27 ', 'Groups:\t1 x'))).toThrow(/Groups/);
    expect(() => parseProcStatus('A'.repeat(70_000))).toThrow(/not a \/proc status file/);
    // A kernel without ambient capabilities (before 4.3) has no CapAmb line: an empty set.
    expect(parseProcStatus(without('CapAmb')).capAmb).toBe(0n);
  });
});

const NOBODY: Identity = { uid: 65534, gid: 65534, user: 'nobody', group: 'nogroup', groups: [65534], userFound: true };

describe('verifySwitch: fails loudly when any thread kept root or the main thread has other capabilities', () => {
  const good = parseProcStatus(STATUS);
  it('accepts a switch the kernel did completely', () => {
    expect(verifySwitch(NOBODY, new Map([[1, good], [2, { ...good, capEff: 0n, capPrm: 0n, capAmb: 0n }]]), good)).toEqual([]);
  });

  it('names a thread still running as root, and capability sets that are not exactly the kept set', () => {
    const root = { ...good, name: 'worker', uid: [65534, 0, 65534, 65534] as [number, number, number, number] };
    expect(verifySwitch(NOBODY, new Map([[1, good], [7, root]]), good)).toEqual(['thread 7 (worker) has uid 65534/0/65534/65534 gid 65534/65534/65534/65534']);
    const wide = { ...good, capBnd: 0x000001ffffffffffn, capAmb: 0n };
    const p = verifySwitch(NOBODY, new Map([[1, good]]), wide);
    expect(p).toHaveLength(2);
    expect(p[0]).toMatch(/^the bounding capabilities are CAP_CHOWN,.*CAP_CHECKPOINT_RESTORE, not CAP_NET_BIND_SERVICE,CAP_NET_ADMIN$/);
    expect(p[1]).toBe('the ambient capabilities are empty, not CAP_NET_BIND_SERVICE,CAP_NET_ADMIN');
  });
});

describe('missingCapabilities: what a start without root lacks, named', () => {
  const needs = { netAdmin: true, ports: [{ port: 500, what: 'UDP, IKE' }, { port: 4500, what: 'UDP, NAT-T' }, { port: 179, what: 'TCP, BGP' }] };
  it('names CAP_NET_ADMIN and CAP_NET_BIND_SERVICE with the ports below the unprivileged start', () => {
    const m = missingCapabilities(needs, 0n, 1024);
    expect(m).toEqual([
      'CAP_NET_ADMIN is not effective: it is needed to create TUN devices and change routes',
      'CAP_NET_BIND_SERVICE is not effective: it is needed to bind 500 (UDP, IKE), 179 (TCP, BGP), below net.ipv4.ip_unprivileged_port_start=1024',
    ]);
    expect(missingCapabilities(needs, capMask([CAP_NET_ADMIN]), 1024)).toEqual([m[1]]);
    expect(missingCapabilities(needs, capMask([CAP_NET_BIND_SERVICE]), 1024)).toEqual([m[0]]);
    expect(missingCapabilities(needs, 0x1400n, 1024)).toEqual([]);
  });

  it('needs no CAP_NET_BIND_SERVICE when the namespace lets anyone bind low ports (docker sets 0)', () => {
    expect(missingCapabilities(needs, capMask([CAP_NET_ADMIN]), 0)).toEqual([]);
    expect(missingCapabilities({ netAdmin: false, ports: [{ port: 0, what: 'any' }] }, 0n, 1024)).toEqual([]);
  });
});
