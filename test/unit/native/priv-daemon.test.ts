/**
 * The daemon's privilege policy (src/privileges/daemon-privileges.ts, handover.ts) and its
 * wiring in src/daemon.ts and src/cli.ts, in process: the daemon here never switches (that would
 * switch the test runner; privileges.test.ts and priv-drop.test.ts do it in child processes).
 *
 * - root without privileges: one warn line recommending them;
 * - an unknown user (config or --user): exit 2 naming it, before anything is opened;
 * - a reload that changes privileges: reported as needing a restart, nothing else about it changes;
 * - starts without root: missing capabilities named, another user refused, the user itself fine;
 * - the hand-over: which directories must be writable, what is chowned (real files, as root).
 */
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { ConfigLoadError, startDaemon, type Daemon } from '../../../src/daemon.js';
import { request } from '../../../src/control/client.js';
import { parseConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/types.js';
import {
  planPrivileges, PrivilegePlanError, restartNeededMessage, ROOT_WARNING, unreadableHints, type PlanInput,
} from '../../../src/privileges/daemon-privileges.js';
import { checkWritable, handOver, handoverFor, missingLevels, permits } from '../../../src/privileges/handover.js';
import { parseProcStatus } from '../../../src/privileges/proc-status.js';
import type { Identity } from '../../../src/native/privileges.js';
import { CONFIG_YAML, FakeEngine, LineSink, memoryDatapath } from '../control/fake-engine.js';

const NOBODY: Identity = { uid: 65534, gid: 65534, user: 'nobody', group: 'nogroup', groups: [65534], userFound: true };
const status = (uid: number, eff: string): string =>
  `Name:\tnode\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nGid:\t${uid}\t${uid}\t${uid}\t${uid}\nGroups:\t\n` +
  `CapInh:\t0000000000000000\nCapPrm:\t${eff}\nCapEff:\t${eff}\nCapBnd:\t000001ffffffffff\nCapAmb:\t${eff}\n`;

let dir: string;
let daemon: Daemon | undefined;
let sink: LineSink;
beforeEach(() => {
  if (process.getuid?.() !== 0) throw new Error('these tests chown files and start the daemon as root: run them as root (CI does)');
  dir = mkdtempSync(join(tmpdir(), 'bg-privd-'));
  sink = new LineSink();
});
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function start(yaml: string): Promise<string> {
  const configPath = join(dir, 'bg.yaml');
  writeFileSync(configPath, yaml);
  const sock = join(dir, 'control.sock');
  daemon = await startDaemon({ configPath, socketPath: sock, logStream: sink, ports: { ike: 0, natT: 0 }, handleSignals: false,
    engineFactory: (tunnels) => new FakeEngine(tunnels), datapath: memoryDatapath() });
  return sock;
}

class Buf {
  text = '';
  write(s: string): void {
    this.text += s;
  }
}

describe('the daemon started as root', () => {
  it('without privileges: exactly one warn line recommending them', async () => {
    await start(CONFIG_YAML);
    const warns = sink.records().filter((r) => r.level === 40 || r.level === 'warn');
    expect(warns.map((r) => r.msg)).toEqual([ROOT_WARNING]);
    expect(ROOT_WARNING).toMatch(/^running as root: set privileges\.user .* keeps only CAP_NET_ADMIN and CAP_NET_BIND_SERVICE \(docs\/privileges\.md\)$/);
  });

  it('an unknown privileges.user is a config error naming the user, before the socket exists', async () => {
    const err = await start(`${CONFIG_YAML}privileges:\n  user: bg-no-such-user-41\n`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigLoadError);
    expect((err as ConfigLoadError).issues).toEqual([`${join(dir, 'bg.yaml')}: privileges: no user named 'bg-no-such-user-41' in the passwd ` +
      'database (getpwnam_r through NSS found none) — create the user (useradd --system --no-create-home --shell /usr/sbin/nologin ' +
      'bg-no-such-user-41) or fix privileges']);
    expect(existsSync(join(dir, 'control.sock'))).toBe(false);
  });

  it('`run --user` with an unknown user exits 2 naming it; a malformed --user is a usage error', async () => {
    const file = join(dir, 'bg.yaml');
    writeFileSync(file, CONFIG_YAML.replace('tunnels:', `control:\n  socket: ${join(dir, 'c.sock')}\ntunnels:`));
    const out = new Buf();
    const err = new Buf();
    expect(await main(['run', '--config', file, '--user', 'bg-no-such-user-42:nogroup'], { stdout: out, stderr: err })).toBe(2);
    expect(err.text).toContain("--user: no user named 'bg-no-such-user-42'");
    expect(err.text).toContain(`check it with \`branchgate check-config ${file}\``);
    const bad = new Buf();
    expect(await main(['run', '--config', file, '--user', 'a:b:c'], { stdout: out, stderr: bad })).toBe(2);
    expect(bad.text).toMatch(/^branchgate: --user takes USER or USER:GROUP \(got 'a:b:c'\)/);
    expect(existsSync(join(dir, 'c.sock'))).toBe(false);
  });

  it('a reload that changes privileges says a restart is needed and changes nothing about them', async () => {
    const sock = await start(CONFIG_YAML);
    writeFileSync(join(dir, 'bg.yaml'), `${CONFIG_YAML}privileges:\n  user: nobody\n  group: nogroup\n`);
    const r = await request(sock, 'reload');
    expect(r).toMatchObject({ ok: true, result: { unchanged: ['t1'], restartNeeded: ['privileges'] } });
    expect(daemon!.config.privileges).toBeUndefined();
    expect(process.geteuid!()).toBe(0);
    const warn = sink.records().find((x) => typeof x.msg === 'string' && x.msg.startsWith('reload: privileges changed'));
    expect(warn?.msg).toBe(restartNeededMessage(undefined, { user: 'nobody', group: 'nogroup' }, 'uid 0'));
    expect(warn?.msg).toBe('reload: privileges changed from (none) to nobody:nogroup; that takes a restart of branchgate (the switch ' +
      'happens once, at start). Still running as uid 0; everything else in the file was applied');
    // The CLI's reload prints it as a line of its own; the same file again is not a change of the tunnels.
    const out = new Buf();
    expect(await main(['reload', '--socket', sock], { stdout: out, stderr: new Buf() })).toBe(0);
    expect(out.text).toBe('t1: unchanged, SAs kept\nprivileges: changed; restart branchgate to apply it (the daemon logged what it still runs as)\n');
  });
});

function config(yaml: string): Config {
  const r = parseConfig(yaml, join(dir, 'bg.yaml'), {});
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

describe('planPrivileges', () => {
  const input = (over: Partial<PlanInput>): PlanInput => ({
    privileges: { user: 'nobody', group: 'nogroup' }, source: 'privileges', config: config(CONFIG_YAML), socketPath: join(dir, 'run', 'c.sock'),
    needs: { netAdmin: true, ports: [{ port: 500, what: 'UDP, IKE' }] }, euid: 0, creds: () => parseProcStatus(status(0, '000001ffffffffff')),
    unprivilegedPortStart: () => 1024, ...over,
  });

  it('not root, capabilities missing: refused naming each, with what to do', () => {
    const e = (() => { try { planPrivileges(input({ euid: 1000, creds: () => parseProcStatus(status(1000, '0000000000000400')), privileges: undefined })); } catch (x) { return x; } })();
    expect(e).toBeInstanceOf(PrivilegePlanError);
    expect((e as Error).message).toBe('CAP_NET_ADMIN is not effective: it is needed to create TUN devices and change routes ' +
      '(this process: uid 1000, effective capabilities: CAP_NET_BIND_SERVICE) — start it as root with privileges.user set, or grant ' +
      'the user the capabilities (systemd: AmbientCapabilities=CAP_NET_ADMIN CAP_NET_BIND_SERVICE; docker: --cap-add NET_ADMIN); see docs/privileges.md');
  });

  it('not root: the user itself has nothing to switch; another user is refused', () => {
    const caps = () => parseProcStatus(status(65534, '0000000000001400'));
    expect(planPrivileges(input({ euid: 65534, creds: caps }))).toMatchObject({ kind: 'stay', id: { uid: 65534 } });
    expect(planPrivileges(input({ euid: 65534, creds: caps, privileges: undefined }))).toEqual({ kind: 'stay', id: null });
    expect(() => planPrivileges(input({ euid: 1000, creds: caps }))).toThrow(/privileges names nobody \(uid 65534\) but branchgate runs as uid 1000, which cannot switch users/);
  });

  it('not root with file capabilities (permitted, not ambient): they are to be raised as ambient for ip and BIRD', () => {
    const fileCaps = () => parseProcStatus(status(65534, '0000000000001400').replace('CapAmb:\t0000000000001400', 'CapAmb:\t0000000000000000'));
    expect(planPrivileges(input({ euid: 65534, creds: fileCaps, privileges: undefined }))).toEqual({ kind: 'stay', id: null, raise: [12, 10] });
    expect(planPrivileges(input({ euid: 0, privileges: undefined }))).toEqual({ kind: 'stay', id: null, warning: ROOT_WARNING });
  });

  it('root: root as the target is a config error; a socket directory nobody cannot write is refused', () => {
    const root = (() => { try { planPrivileges(input({ privileges: { user: 'root' } })); } catch (x) { return x; } })() as PrivilegePlanError;
    expect(root.config).toBe(true);
    expect(root.message).toMatch(/name an unprivileged user and group \(neither uid nor gid 0\)/);
    chmodSync(dir, 0o711); // searchable, so that the directory itself is what fails
    mkdirSync(join(dir, 'run'), { mode: 0o755 });
    const e = (() => { try { planPrivileges(input({})); } catch (x) { return x; } })() as PrivilegePlanError;
    expect(e.config).toBe(false);
    expect(e.message).toBe(`privileges: ${join(dir, 'run')} (owner 0, group 0, mode 0755) is not writable by nobody, who must remove the ` +
      `control socket at stop after dropping root: chown nobody ${join(dir, 'run')} (or use a directory nobody can write)`);
  });

  it('root: missing directories are created and handed over; existing writable ones are accepted as they are', () => {
    chmodSync(dir, 0o711);
    const sock = join(dir, 'a', 'b', 'c.sock');
    const plan = planPrivileges(input({ socketPath: sock }));
    expect(plan).toMatchObject({ kind: 'switch', id: { uid: 65534 }, created: [join(dir, 'a'), join(dir, 'a', 'b')] });
    mkdirSync(join(dir, 'own'));
    chownSync(join(dir, 'own'), 65534, 65534);
    expect(planPrivileges(input({ socketPath: join(dir, 'own', 'c.sock') }))).toMatchObject({ kind: 'switch', created: [] });
  });
});

describe('hand-over', () => {
  it('permits: the owner class decides alone, then group (primary or supplementary), then other (path_resolution(7))', () => {
    const me = { uid: 5, gid: 6, groups: [6, 7] };
    expect(permits({ uid: 5, gid: 6, mode: 0o070 }, me, 2)).toBe(false); // owner bits win even when group bits allow
    expect(permits({ uid: 1, gid: 7, mode: 0o730 }, me, 3)).toBe(true);
    expect(permits({ uid: 1, gid: 2, mode: 0o773 }, me, 3)).toBe(true);
    expect(permits({ uid: 1, gid: 2, mode: 0o771 }, me, 3)).toBe(false);
  });

  it('handoverFor lists the socket, BIRD and key-export directories; checkWritable names an unsearchable ancestor', () => {
    // BIRD's files default to siblings of the config's control.socket (config/bgp-defaults.ts).
    const c = config(`${CONFIG_YAML.replace('tunnels:', `control:\n  socket: ${dir}/run/c.sock\ntunnels:`)}bgp:\n  asn: 65010\n  address: 100.64.0.1\n  advertise: [100.64.10.0/24]\n  neighbors:\n` +
      `    - { address: 100.64.0.2, asn: 65476, tunnel: t1 }\n  bird: { socket: ${dir}/bird/b.ctl }\ndebug:\n  wiresharkKeys: ${dir}/keys\n`);
    const h = handoverFor(c, join(dir, 'run', 'c.sock'));
    expect(h.dirs.map((d) => d.path)).toEqual([join(dir, 'run'), join(dir, 'bird'), join(dir, 'keys')]);
    expect(h.files).toEqual([join(dir, 'run', 'c.sock'), join(dir, 'run', 'c.bird.conf'), join(dir, 'run', 'c.bird.conf.tmp'),
      join(dir, 'bird', 'b.ctl'), join(dir, 'keys', 'esp_sa'), join(dir, 'keys', 'ikev2_decryption_table')]);
    // mkdtemp made `dir` 0700 root: nobody cannot even reach what is below it.
    expect(checkWritable(h.dirs.slice(0, 1), NOBODY)).toEqual([`${dir} (owner 0, group 0, mode 0700) cannot be searched by nobody, ` +
      `who must reach ${join(dir, 'run')} to remove the control socket at stop: chmod o+x ${dir}, or move the path`]);
    expect(missingLevels(join(dir, 'x', 'y'))).toEqual([join(dir, 'x'), join(dir, 'x', 'y')]);
  });

  it('handOver creates and chowns what the daemon made, chowns its own files, leaves existing directories and symlinks alone', () => {
    const existing = join(dir, 'existing');
    mkdirSync(existing, { mode: 0o755 });
    writeFileSync(join(existing, 'c.sock'), ''); // stands in for the socket
    symlinkSync('/etc/passwd', join(existing, 'esp_sa'));
    const h = { dirs: [{ path: existing, why: 'x' }, { path: join(dir, 'new', 'keys'), why: 'y' }],
      files: [join(existing, 'c.sock'), join(existing, 'esp_sa'), join(existing, 'absent')] };
    const created = missingLevels(join(dir, 'new', 'keys'));
    const done = handOver(h, created, NOBODY);
    expect(done).toEqual([join(dir, 'new'), join(dir, 'new', 'keys'), join(existing, 'c.sock')]);
    expect(statSync(join(dir, 'new', 'keys'))).toMatchObject({ uid: 65534, gid: 65534 });
    expect(statSync(join(dir, 'new', 'keys')).mode & 0o777).toBe(0o700);
    expect(statSync(existing).uid, 'an existing directory is the administrator\'s').toBe(0);
    expect(statSync('/etc/passwd').uid, 'a planted symlink is not followed').toBe(0);
    expect(lstatSync(join(existing, 'esp_sa')).uid).toBe(0);
  });
});

describe('unreadableHints', () => {
  it('names each file the user cannot read, from the loader\'s messages', () => {
    const issues = ['/etc/branchgate/config.yaml: cannot read: permission denied — check the path and permissions'];
    expect(unreadableHints(issues, NOBODY)).toEqual(['/etc/branchgate/config.yaml is not readable by nobody (uid 65534), the user branchgate ' +
      'runs as since it dropped root at start: chgrp nogroup /etc/branchgate/config.yaml && chmod g+r /etc/branchgate/config.yaml, ' +
      'or chown nobody /etc/branchgate/config.yaml']);
    const psk = ['/etc/bg.yaml:7:14: cannot read /etc/branchgate/a.psk: permission denied (pskFile is relative to the config file\'s directory)'];
    expect(unreadableHints(psk, NOBODY)[0]).toMatch(/^\/etc\/branchgate\/a\.psk is not readable by nobody/);
    expect(unreadableHints(['/etc/bg.yaml:3:5: unknown key "pks"', '/x.psk: cannot read /x.psk: no such file'], NOBODY)).toEqual([]);
  });
});
