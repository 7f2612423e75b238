import { readFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { formatListSas, formatStatus } from '../../../src/cli/format.js';
import type { Daemon } from '../../../src/daemon.js';
import type { ListSasDocument, StatusDocument } from '../../../src/control/status.js';
import { ESP_DROP_REASONS, type EspDropCounts } from '../../../src/dataplane/drops.js';
import { CONFIG_YAML, startFakeDaemon } from '../control/fake-engine.js';

/** The package's own version, as the daemon reports it. */
const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const ROOT = join(import.meta.dirname, '..', '..', '..');

class Buf {
  text = '';
  write(s: string): void {
    this.text += s;
  }
}

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Buf();
  const stderr = new Buf();
  const code = await main(args, { stdout, stderr, env });
  return { code, out: stdout.text, err: stderr.text };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bg-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const BAD_YAML = 'tunnels:\n  - name: t1\n    remoteAddress: 300.1.2.3\n    psk: "correct horse battery staple"\n    pks: x\n';

describe('branchgate CLI (in process)', () => {
  it('version prints the version and the native fast path state', async () => {
    // npm ci builds native/ (scripts/build-native.mjs), so the addon must be loaded here.
    expect(await cli(['version'])).toEqual({ code: 0, err: '', out: `branchgate ${VERSION}\nnative fast path: loaded\n` });
    const j = await cli(['version', '--json']);
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.out) as { version: string; nativeFastPath: boolean; nativeFastPathReason: string };
    expect(doc).toMatchObject({ version: VERSION, nativeFastPath: true });
    expect(doc.nativeFastPathReason).toMatch(/native TUN addon loaded \(.*branchgate_native\.node\)/);
  });

  it('help goes to stdout with exit 0; no command is a usage error', async () => {
    for (const a of [['help'], ['--help'], ['-h']]) {
      const r = await cli(a);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^usage: branchgate <command>/);
    }
    expect((await cli(['status', '--help'])).out).toMatch(/^usage: branchgate status \[--json\] \[--check\] \[--socket PATH\] \[--config FILE\]\n/);
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.err).toBe('branchgate: no command given\n(commands: branchgate help)\n');
  });

  it('unknown commands, flags and argument counts exit 2 with a short hint on stderr', async () => {
    const unk = await cli(['frobnicate']);
    expect(unk).toEqual({ code: 2, out: '', err: "branchgate: unknown command 'frobnicate'\n(commands: branchgate help)\n" });
    const flag = await cli(['status', '--bogus']);
    expect(flag.code).toBe(2);
    expect(flag.err).toBe("branchgate: unknown option '--bogus'\nusage: branchgate status [--json] [--check] [--socket PATH] [--config FILE]\n(more: branchgate help status)\n");
    expect((await cli(['up'])).code).toBe(2);
    expect((await cli(['version', 'extra'])).err).toMatch(/^branchgate: 'version' takes no arguments, not 'extra'\n/);
    // run without --config reads $BRANCHGATE_CONFIG (else /etc/branchgate/config.yaml): a missing file is a config error
    const missing = join(dir, 'missing.yaml');
    const r = await cli(['run'], { BRANCHGATE_CONFIG: missing });
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${missing}: cannot read: no such file`);
  });

  it('reload: usage errors exit 2, no daemon exits 1', async () => {
    expect((await cli(['reload', 'x'])).code).toBe(2);
    expect((await cli(['reload', '--socket', join(dir, 'none.sock')])).code).toBe(1);
  });

  it('rekey and monitor: usage errors exit 2, no daemon exits 1 with a hint', async () => {
    expect((await cli(['rekey'])).code).toBe(2);
    expect((await cli(['rekey', 'a', 'b'])).code).toBe(2);
    expect((await cli(['monitor', 'x'])).code).toBe(2);
    expect((await cli(['rekey', '--help'])).out).toMatch(/^usage: branchgate rekey NAME \[--ike\] \[--wait\] \[--socket PATH\] \[--config FILE\]\n/);
    const sock = join(dir, 'none.sock');
    for (const args of [['rekey', 't1'], ['monitor']]) {
      const r = await cli([...args, '--socket', sock]);
      expect(r).toMatchObject({ code: 1, out: '' });
      expect(r.err).toMatch(/no such file — is `branchgate run` running\? \(use --socket PATH\)/);
    }
  });

  it('check-config: ok with the tunnel count, exit 0', async () => {
    const f = join(dir, 'ok.yaml');
    writeFileSync(f, CONFIG_YAML);
    expect(await cli(['check-config', f])).toEqual({ code: 0, out: `${f}: ok (1 tunnel)\n`, err: '' });
  });

  it('check-config: a privileges user this host does not know is a warning (run would exit 2 here); a known one is not', async () => {
    const known = join(dir, 'priv-ok.yaml');
    writeFileSync(known, `${CONFIG_YAML}privileges:\n  user: nobody\n`);
    expect(await cli(['check-config', known])).toEqual({ code: 0, out: `${known}: ok (1 tunnel)\n`, err: '' });
    const unknown = join(dir, 'priv-unknown.yaml');
    writeFileSync(unknown, `${CONFIG_YAML}privileges:\n  user: bg-no-such-user-7f3a\n`);
    const r = await cli(['check-config', unknown]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${unknown}: ok (1 tunnel)\n`);
    expect(r.err).toMatch(/^warning: privileges: .*bg-no-such-user-7f3a.*; `branchgate run` on this host would exit 2/);
  });

  it('check-config: one FILE:LINE:COL line per issue on stderr, exit 2, no PSK echoed', async () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, BAD_YAML);
    const r = await cli(['check-config', f]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    const lines = r.err.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) expect(l.startsWith(`${f}:`) && /^[^:]+:\d+:\d+: /.test(l)).toBe(true);
    expect(r.err).toContain(`${f}:3:20: tunnels.0.remoteAddress:`);
    expect(r.err).toContain(`${f}:5:5: tunnels.0.pks: unknown key`);
    expect(r.err).not.toContain('correct horse');
  });

  it('check-config: a missing file is a config error with a hint', async () => {
    const r = await cli(['check-config', join(dir, 'nope.yaml')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/nope\.yaml: cannot read: no such file — check the path/);
  });

  it('status without a daemon exits 1 and says what to do', async () => {
    const sock = join(dir, 'none.sock');
    const r = await cli(['status', '--socket', sock]);
    expect(r).toEqual({ code: 1, out: '',
      err: `branchgate: cannot reach branchgate at ${sock}: no such file — is \`branchgate run\` running? (use --socket PATH)\n` });
    // $BRANCHGATE_SOCKET is the fallback for --socket
    expect((await cli(['list-sas'], { BRANCHGATE_SOCKET: sock })).err).toContain(sock);
  });

  it('formats the status line as in the contract example', () => {
    const doc: StatusDocument = { version: '0.1.0', nativeFastPath: false, tunnels: [
      { name: 'gsa-primary', state: 'established', local: '192.0.2.10:4500', remote: '20.245.111.21:4500', natDetected: false,
        ike: { spiI: '0'.repeat(16), spiR: '1'.repeat(16), encr: 'AES_GCM_16_256', prf: 'PRF_HMAC_SHA2_384', dh: 'MODP_2048_256',
          establishedAt: null, rekeyAt: null },
        children: [{ spiIn: 'c1f2aa01', spiOut: '0000bb02', encr: 'AES_GCM_16_256', esn: false, bytesIn: 0, bytesOut: 0,
          packetsIn: 0, packetsOut: 0, replayDrops: 0, authFailures: 0, rekeyAt: null }], routes: [] },
      { name: 'backup', state: 'down', local: null, remote: null, natDetected: false, ike: null, children: [], routes: [] }] };
    expect(formatStatus(doc)).toBe(
      'gsa-primary  established  192.0.2.10:4500 -> 20.245.111.21:4500  AES_GCM_16_256/PRF_HMAC_SHA2_384/MODP_2048_256  1 child\n' +
      `backup       down         ${'- -> -'.padEnd(37)}  ${'-'.padEnd(46)}  0 children\n`);
  });
});

describe('list-sas, human form', () => {
  it('names the datapath drops that happened, largest first, and the kernel drops per socket', () => {
    const drops = Object.fromEntries(ESP_DROP_REASONS.map((r) => [r, 0])) as EspDropCounts;
    drops.replay = 500;
    drops['unknown-spi'] = 12;
    drops.auth = 3;
    const doc: ListSasDocument = {
      version: VERSION, nativeFastPath: true, tunnels: [],
      udp: { ikeIn500: 0, ikeIn4500: 0, ikeOut: 0, natKeepalives: 0, natKeepalivesOut: 0, espDropped: 0, malformed: 0, handlerErrors: 0, sendErrors: 0, sendQueueFull: 0 },
      dataplane: { drops },
      udpSockets: [{ socket: '0.0.0.0:500', inode: 1, drops: 0, receiveQueue: 0 }, { socket: '0.0.0.0:4500', inode: 2, drops: 7, receiveQueue: 0 }],
    };
    const out = formatListSas(doc, Date.now());
    expect(out).toContain('\ndatapath drops: replay 500, unknown-spi 12, auth 3\n');
    expect(out).toContain('\nkernel socket drops: 0.0.0.0:500 0, 0.0.0.0:4500 7\n');
    // an older daemon's document has neither: no line rather than a made-up zero
    const { dataplane: _d, udpSockets: _u, ...old } = doc;
    expect(formatListSas(old, Date.now())).not.toMatch(/datapath drops|kernel socket drops/);
  });
});

describe('branchgate CLI against a daemon with a fake engine', () => {
  let d: Daemon | undefined;
  afterEach(async () => {
    await d?.stop();
    d = undefined;
  });

  it('status, list-sas, up and down', async () => {
    const cfg = join(dir, 'bg.yaml');
    writeFileSync(cfg, CONFIG_YAML);
    const sock = join(dir, 'c.sock');
    d = (await startFakeDaemon(cfg, sock)).d;
    expect((await cli(['status', '--socket', sock])).out).toBe('t1  down  - -> -  -  0 children\n');
    expect(await cli(['up', 't1', '--socket', sock])).toMatchObject({ code: 0,
      out: 't1: up requested (now established; follow with `branchgate status`)\n' });
    const s = await cli(['status', '--socket', sock]);
    expect(s.out).toBe('t1  established  127.0.0.1:4500 -> 127.0.0.2:4500  AES_GCM_16_256/PRF_HMAC_SHA2_384/MODP_2048_256  1 child\n');
    const j = await cli(['status', '--json', '--socket', sock]);
    expect(JSON.parse(j.out)).toMatchObject({ version: VERSION, tunnels: [{ name: 't1', state: 'established' }] });
    const l = await cli(['list-sas', '--socket', sock]);
    expect(l.code).toBe(0);
    expect(l.out).toMatch(/^t1: ESTABLISHED, IKEv2, 0123456789abcdef_i\* fedcba9876543210_r\n/);
    expect(l.out).toContain('  t1: INSTALLED, TUNNEL, ESP in UDP: AES_GCM_16_256, no ESN\n');
    expect(l.out).toContain('    in  c0ffee01, 0 bytes, 0 packets, 0 replay drops, 0 auth failures\n');
    expect(l.out).toMatch(/rekeying in 3600s/);
    // nothing dropped yet; the daemon's own UDP sockets, as the kernel counts them
    expect(l.out).toContain('\ndatapath drops: none\n');
    expect(l.out).toMatch(/\nkernel socket drops: 127\.0\.0\.1:\d+ 0, 127\.0\.0\.1:\d+ 0\n/);
    const unk = await cli(['down', 'gsa', '--socket', sock]);
    expect(unk.code).toBe(2);
    expect(unk.err).toMatch(/^branchgate: no tunnel named 'gsa'; configured: t1/);
    expect((await cli(['down', 't1', '--socket', sock])).code).toBe(0);
  });

  it('reload re-reads the file: unchanged kept, added started, a broken file changes nothing (exit 2)', async () => {
    const cfg = join(dir, 'bg.yaml');
    writeFileSync(cfg, CONFIG_YAML);
    const sock = join(dir, 'c.sock');
    const started = await startFakeDaemon(cfg, sock);
    d = started.d;
    const e = started.engine();
    expect(await cli(['reload', '--socket', sock])).toEqual({ code: 0, err: '', out: 't1: unchanged, SAs kept\n' });
    writeFileSync(cfg, CONFIG_YAML.replace('routes: [10.0.0.0/8]', 'routes: [10.0.0.0/8]\n  - name: t2\n    localAddress: 127.0.0.1\n    remoteAddress: 127.0.0.3\n    psk: "another horse"\n'));
    expect(await cli(['reload', '--socket', sock])).toEqual({ code: 0, err: '', out: 't1: unchanged, SAs kept\nt2: added, starting\n' });
    expect(e.calls.filter((c) => c.startsWith('reconfigure'))).toEqual(['reconfigure t1', 'reconfigure t1,t2']);
    writeFileSync(cfg, 'tunnels: [ {name: 1');
    const bad = await cli(['reload', '--socket', sock]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/the config did not load; nothing changed:\n.*bg\.yaml:1:\d+: YAML/);
    expect(e.calls.filter((c) => c.startsWith('reconfigure')).length).toBe(2);
  });

  it('rekey [--ike] [--wait] and monitor', async () => {
    const cfg = join(dir, 'bg.yaml');
    writeFileSync(cfg, CONFIG_YAML);
    const sock = join(dir, 'c.sock');
    const started = await startFakeDaemon(cfg, sock);
    d = started.d;
    const e = started.engine();
    const down = await cli(['rekey', 't1', '--socket', sock]);
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/^branchgate: tunnel 't1' is down, so there is no Child SA to rekey — bring it up with `branchgate up t1`/);
    expect((await cli(['rekey', 'nope', '--socket', sock])).code).toBe(2);

    // monitor runs until its signal aborts; each event is one JSON line.
    const out = new Buf();
    const err = new Buf();
    const ac = new AbortController();
    const mon = main(['monitor', '--socket', sock], { stdout: out, stderr: err, signal: ac.signal });
    await new Promise((r) => setTimeout(r, 50));
    expect(await cli(['up', 't1', '--socket', sock])).toMatchObject({ code: 0 });
    expect(await cli(['rekey', 't1', '--socket', sock])).toEqual({ code: 0, err: '',
      out: 't1: Child SA rekey requested (now established; follow with `branchgate monitor`)\n' });
    expect(await cli(['rekey', 't1', '--ike', '--wait', '--socket', sock])).toEqual({ code: 0, err: '',
      out: 't1: IKE SA rekeyed, 0123456789abcdef_i -> 1111111111111111_i\n' });
    e.onRekey = () => {
      e.next = [{ kind: 'event', event: { type: 'child-rekeyed', tunnel: 't1', oldSpiIn: 'c0ffee02', spiIn: 'c0ffee07', spiOut: 'beef0007', initiator: false } }];
      e.wakeAt = Date.now() + 20;
      return [];
    };
    expect(await cli(['rekey', 't1', '--wait', '--socket', sock])).toEqual({ code: 0, err: '',
      out: "t1: Child SA rekeyed, in c0ffee02 -> c0ffee07 (the peer's simultaneous rekey won)\n" });
    for (let i = 0; i < 100 && out.text.split('\n').length < 5; i++) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    expect(await mon).toBe(0);
    const lines = out.text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.type)).toEqual(['child-up', 'child-rekeyed', 'ike-rekeyed', 'child-rekeyed']);
    expect(lines[1]).toMatchObject({ source: 'ike', tunnel: 't1', oldSpiIn: 'c0ffee01', spiIn: 'c0ffee02', initiator: true, peer: '127.0.0.2:4500' });
    expect(err.text).toBe('');

    // the daemon going away ends monitor with exit 1 and a hint
    const mon2 = main(['monitor', '--socket', sock], { stdout: new Buf(), stderr: err, signal: new AbortController().signal });
    await new Promise((r) => setTimeout(r, 50));
    await d.stop();
    d = undefined;
    expect(await mon2).toBe(1);
    expect(err.text).toMatch(/closed the event stream \(did it stop\?\) — start `branchgate run` and run `branchgate monitor` again/);
  });
});

/** Newest mtime under a directory, to rebuild dist/ only when src/ changed. */
function newest(path: string): number {
  let m = 0;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    m = Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return m;
}

describe('branchgate CLI as a subprocess (built dist/)', () => {
  beforeAll(() => {
    const cli = join(ROOT, 'dist', 'cli.js');
    if (!existsSync(cli) || newest(join(ROOT, 'src')) > newest(join(ROOT, 'dist'))) {
      try {
        execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
          { cwd: ROOT, stdio: 'pipe' });
      } catch {
        // Type errors elsewhere in the tree still emit JavaScript; the test below is the judge.
      }
    }
  });

  it('check-config exits 2 with FILE:LINE:COL lines, and version works', () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, BAD_YAML);
    const bin = join(ROOT, 'bin', 'branchgate.js');
    const bad = spawnSync(process.execPath, [bin, 'check-config', f], { encoding: 'utf8' });
    expect(bad.stderr).toContain(`${f}:3:20: tunnels.0.remoteAddress:`);
    expect(bad.status).toBe(2);
    const v = spawnSync(process.execPath, [bin, 'version'], { encoding: 'utf8' });
    expect(v.status).toBe(0);
    expect(v.stdout.startsWith(`branchgate ${VERSION}\nnative fast path: loaded`)).toBe(true);
    const off = spawnSync(process.execPath, [bin, 'version'], { encoding: 'utf8', env: { ...process.env, BRANCHGATE_NO_NATIVE: '1' } });
    expect(off.stdout).toMatch(new RegExp(`^branchgate ${VERSION.replace(/\./g, '\\.')}\\nnative fast path: not loaded \\(.*BRANCHGATE_NO_NATIVE`));
    const u = spawnSync(process.execPath, [bin, 'nope'], { encoding: 'utf8' });
    expect(u.status).toBe(2);
  });
});
