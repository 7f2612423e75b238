/**
 * The Debian package end to end, on this machine (Debian 12): `npm run package` builds the .deb,
 * lintian finds no error, `dpkg -i` installs it, `branchgate` runs from PATH, the installed unit
 * passes `systemd-analyze verify`, and the daemon started the way the unit starts it — its
 * ExecStart= command line as its User= with its AmbientCapabilities=, CapabilityBoundingSet= and
 * NoNewPrivileges=, RuntimeDirectory= made, NOTIFY_SOCKET and WATCHDOG_USEC set (PID 1 here is not
 * systemd, so setpriv does what systemd would) — brings the README's quick start up against
 * strongSwan in a namespace: the config template edited, the key written, `branchgate status
 * --check` without options says OK. `dpkg --purge` then leaves the file list under /etc, /usr,
 * /lib/systemd and /var/lib and the user and group databases as they were before.
 *
 * It installs a package and adds a system user: run it under the lab lock
 * (`flock /tmp/bg-lab.lock npx vitest run test/interop/package-deb.test.ts`).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './lab/branchgate.js';
import { siteConn } from './lab/site.js';
import { Charon } from './lab/strongswan.js';
import { ADDR, createTopology, type Topology } from './lab/topology.js';
import { makeTempDir, removeTempDir, requirePrereqs, trackProcess, waitFor } from './lab/netns.js';
import { NotifySocket } from '../helpers/notify-socket.js';

const PSK = 'package-test-psk-0b7e52c19a4d';
const SCANNED = ['/etc', '/usr/bin', '/usr/sbin', '/usr/lib', '/usr/share', '/lib/systemd', '/var/lib'];

const sh = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(cmd, args, { encoding: 'utf8', env, timeout: 120_000 });

/** Every path under SCANNED (not following symlinks), sorted. */
function fileList(): string[] {
  const r = sh('find', [...SCANNED.filter(existsSync), '-xdev']);
  return r.stdout.split('\n').filter(Boolean).sort();
}
const accounts = (): string[] => [...readFileSync('/etc/passwd', 'utf8').split('\n'), ...readFileSync('/etc/group', 'utf8').split('\n')].filter(Boolean).sort();

/** `Key=value` lines of a unit file (every occurrence). */
function unitValues(unit: string, key: string): string[] {
  return unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}

const installed = (): boolean => sh('dpkg-query', ['-W', '-f=${Status}', 'branchgate']).stdout.includes('install ok installed');

describe('the Debian package', () => {
  let dir = '';
  let deb = '';
  let before: { files: string[]; accounts: string[] } | undefined;
  let topo: Topology | undefined;
  let gw: Charon | undefined;
  let daemon: ChildProcess | undefined;
  let notify: NotifySocket | undefined;
  let madeRunDir = false;

  beforeAll(() => {
    requirePrereqs();
    for (const tool of ['dpkg-deb', 'lintian', 'systemd-analyze', 'setpriv']) {
      if (sh('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is missing (scripts/install-deps.sh installs it)`);
    }
    if (installed()) throw new Error('branchgate is already installed on this machine: `dpkg --purge branchgate` first (this test installs and purges it)');
    if (existsSync('/run/branchgate')) throw new Error('/run/branchgate exists: another branchgate runs here; stop it first');
    dir = makeTempDir('deb');
    chmodSync(dir, 0o711); // the service user reaches the notify socket inside
  });

  afterAll(async () => {
    if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
    notify?.close();
    await gw?.stop().catch(() => undefined);
    await topo?.destroy();
    if (madeRunDir) rmSync('/run/branchgate', { recursive: true, force: true });
    if (installed()) sh('dpkg', ['--purge', 'branchgate']);
    if (dir) removeTempDir(dir);
  });

  it('builds with npm run package and lintian reports no error', () => {
    const t0 = Date.now();
    const r = sh('npm', ['run', '--silent', 'package', '--', dir], { ...process.env, npm_config_loglevel: 'error' });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const name = readdirSync(dir).find((f) => /^branchgate_\d+\.\d+\.\d+_\w+\.deb$/.test(f));
    expect(name).toBeDefined();
    deb = join(dir, name!);
    const built = (Date.now() - t0) / 1000;
    // lintian keeps ELF caches (mldbm-*) in $TMPDIR and never removes them: point it at our own dir.
    const l = sh('lintian', ['--tag-display-limit', '0', deb], { ...process.env, TMPDIR: dir });
    const tags = `${l.stdout}${l.stderr}`.split('\n').filter((x) => /^[EW]: /.test(x));
    console.log(`package: ${name} ${(statSync(deb).size / 2 ** 20).toFixed(1)} MiB, built in ${built.toFixed(0)} s; lintian: ${tags.length} tags`);
    expect(tags.filter((x) => x.startsWith('E: '))).toEqual([]);
    expect(tags).toEqual([]); // and no warnings: the two the bundled node raises are explained overrides
  }, 240_000);

  it('installs: branchgate on PATH, the user, the config modes, the unit verifies', () => {
    expect(deb, 'the build step failed').not.toBe('');
    before = { files: fileList(), accounts: accounts() };
    const i = sh('dpkg', ['-i', deb]);
    expect(i.status, `${i.stdout}\n${i.stderr}`).toBe(0);
    const v = sh('branchgate', ['version'], { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' });
    expect(v.status, v.stderr).toBe(0);
    const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(v.stdout).toBe(`branchgate ${version}\nnative fast path: loaded\n`);
    expect(sh('branchgate', ['--version']).stdout).toBe(`branchgate ${version}\n`);
    expect(sh('getent', ['passwd', 'branchgate']).stdout).toMatch(/^branchgate:x:\d+:\d+:[^:]*:\/nonexistent:\/usr\/sbin\/nologin\n$/);
    const mode = (p: string): string => (statSync(p).mode & 0o7777).toString(8);
    expect(mode('/etc/branchgate')).toBe('750');
    expect(mode('/etc/branchgate/config.yaml')).toBe('640');
    expect(mode('/etc/branchgate/psk')).toBe('600');
    for (const f of ['/usr/share/man/man1/branchgate.1.gz', '/usr/share/bash-completion/completions/branchgate', '/usr/share/zsh/vendor-completions/_branchgate',
      '/usr/share/branchgate/prometheus/branchgate-alerts.yml', '/usr/share/branchgate/grafana/branchgate-dashboard.json', '/usr/lib/branchgate/node']) {
      expect(existsSync(f), f).toBe(true);
    }
    const man = sh('man', ['--warnings', '-l', '-Tutf8', '/usr/share/man/man1/branchgate.1.gz']);
    if (man.status === 0) expect(man.stdout).toMatch(/status --check/);
    const verify = sh('systemd-analyze', ['verify', '--man=no', '/lib/systemd/system/branchgate.service']);
    expect(verify.status, verify.stderr).toBe(0);
    expect(`${verify.stdout}${verify.stderr}`.trim()).toBe('');
  }, 60_000);

  it("runs as the unit runs it and follows the quick start: edit, start, status --check says OK", async () => {
    expect(installed(), 'the install step failed').toBe(true);
    const unit = readFileSync('/lib/systemd/system/branchgate.service', 'utf8');
    expect(unitValues(unit, 'Type')).toEqual(['notify']);
    const user = unitValues(unit, 'User')[0]!;
    const group = unitValues(unit, 'Group')[0]!;
    const caps = unitValues(unit, 'AmbientCapabilities')[0]!.split(/\s+/).map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',');
    expect(unitValues(unit, 'CapabilityBoundingSet')[0]).toBe(unitValues(unit, 'AmbientCapabilities')[0]);
    expect(unitValues(unit, 'NoNewPrivileges')).toEqual(['yes']);
    const execStart = unitValues(unit, 'ExecStart')[0]!.split(/\s+/);
    const watchdogSec = Number(unitValues(unit, 'WatchdogSec')[0]!.replace(/s$/, ''));

    topo = await createTopology({ tag: 'pk' });
    gw = await Charon.start(topo.gw, { tag: 'pkgw' });
    gw.writeConns([siteConn('gsa', PSK, { proposals: ['aes256gcm16-prfsha384-modp2048s256'], espProposals: ['aes256gcm16'],
      localTs: ['0.0.0.0/0'], remoteTs: ['0.0.0.0/0'] })]);
    await gw.loadAll();

    // Quick start, step 1: `sudoedit /etc/branchgate/config.yaml /etc/branchgate/psk` — the
    // CHANGE values become this lab's; the lab's strongSwan has no BGP speaker, so bgp: goes.
    const cfg = '/etc/branchgate/config.yaml';
    const template = readFileSync(cfg, 'utf8');
    expect(template).toContain('pskFile: psk');
    writeFileSync(cfg, template.replace('192.0.2.10 ', `${ADDR.cpeWan} `).replace('203.0.113.1 ', `${ADDR.gwIke} `).replace(/\nbgp:[\s\S]*$/, '\n'));
    writeFileSync('/etc/branchgate/psk', `${PSK}\n`); // sudoedit keeps owner and mode
    expect(sh('branchgate', ['check-config']).status).toBe(0);

    // Step 2: `systemctl enable --now branchgate`, done the way systemd would.
    madeRunDir = true;
    execFileSync('install', ['-d', '-m', unitValues(unit, 'RuntimeDirectoryMode')[0]!, '-o', user, '-g', group, '/run/branchgate']);
    execFileSync('install', ['-d', '-m', unitValues(unit, 'StateDirectoryMode')[0]!, '-o', user, '-g', group, '/var/lib/branchgate']);
    notify = await NotifySocket.bind(join(dir, 'notify.sock'));
    const setpriv = ['setpriv', '--reuid', user, '--regid', group, '--init-groups', '--inh-caps', caps, '--ambient-caps', caps,
      '--bounding-set', `-all,${caps}`, '--no-new-privs'];
    const log: string[] = [];
    daemon = spawn('ip', ['netns', 'exec', topo.cpe, ...setpriv, ...execStart], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: String(watchdogSec * 1e6) },
    });
    trackProcess(daemon);
    daemon.stdout!.on('data', (c: Buffer) => log.push(c.toString()));
    daemon.stderr!.on('data', (c: Buffer) => log.push(c.toString()));
    try {
      await waitFor('READY=1', async () => (notify!.assignments().includes('READY=1') ? true : undefined), 20_000, 100);
      const established = await gw.waitEstablished('gsa');
      expect(established.state).toBe('ESTABLISHED');
      // Step 3: `sudo branchgate status --check` — no --socket: found from /etc/branchgate/config.yaml.
      const check = await waitFor('status --check OK', async () => {
        const r = sh('branchgate', ['status', '--check']);
        return r.status === 0 ? r : undefined;
      }, 20_000, 250);
      expect(check.stdout).toBe('BRANCHGATE OK - 1/1 tunnels established | tunnels_established=1;;;0;1\n');
      await waitFor('STATUS=1/1 tunnels established', async () => (notify!.assignments().includes('STATUS=1/1 tunnels established') ? true : undefined), 5000, 100);
      // `systemctl reload` = ExecReload as the unit's user.
      const reload = sh('setpriv', ['--reuid', user, '--regid', group, '--init-groups', ...unitValues(unit, 'ExecReload')[0]!.split(/\s+/)]);
      expect(reload.status, reload.stderr).toBe(0);
      expect(reload.stdout).toBe('gsa-primary: unchanged, SAs kept\n');
      // The daemon runs as the user, not root.
      const uid = Number(sh('id', ['-u', user]).stdout.trim());
      const status = readFileSync(`/proc/${sh('pgrep', ['-f', '-n', '/usr/lib/branchgate/bin/branchgate.js run']).stdout.trim()}/status`, 'utf8');
      expect(status).toMatch(new RegExp(`\\nUid:\\t${uid}\\t${uid}\\t${uid}\\t${uid}\\n`));
    } catch (err) {
      console.error(log.join(''));
      throw err;
    }
    const exited = new Promise<number | null>((r) => daemon!.once('exit', (code) => r(code)));
    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(notify.assignments()).toContain('STOPPING=1');
    rmSync('/run/branchgate', { recursive: true, force: true }); // systemd removes RuntimeDirectory= at stop
    madeRunDir = false;
  }, 120_000);

  it('purge leaves the files, users and groups as they were', () => {
    expect(before, 'the install step failed').toBeDefined();
    const p = sh('dpkg', ['--purge', 'branchgate']);
    expect(p.status, `${p.stdout}\n${p.stderr}`).toBe(0);
    console.log(`dpkg --purge:\n${p.stdout}${p.stderr}`);
    expect(installed()).toBe(false);
    const after = fileList();
    const added = after.filter((f) => !before!.files.includes(f));
    const removed = before!.files.filter((f) => !after.includes(f));
    expect({ added, removed }).toEqual({ added: [], removed: [] });
    expect(accounts()).toEqual(before!.accounts);
  }, 60_000);
});
