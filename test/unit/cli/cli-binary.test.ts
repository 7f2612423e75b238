/**
 * The command line as scripts and people meet it: every case runs the real program
 * (`node bin/branchgate.js`, built dist/) as a child process. Commands that need a daemon talk to
 * one started in this process (fake engine, real control socket); the tunnel-level behaviour
 * (status --check states, up/down --wait) runs against strongSwan in test/interop/cli-ops.test.ts.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { COMMANDS } from '../../../src/cli/commands.js';
import type { Daemon } from '../../../src/daemon.js';
import { CONFIG_YAML, startFakeDaemon } from '../control/fake-engine.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const BIN = join(ROOT, 'bin', 'branchgate.js');
const VERSION = (JSON.parse(execFileSync(process.execPath, ['-p', `JSON.stringify(require('${join(ROOT, 'package.json')}'))`], { encoding: 'utf8' })) as { version: string }).version;

function newest(path: string): number {
  let m = 0;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    m = Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return m;
}

/** Runs the program; env is the whole environment (no BRANCHGATE_* from the test's own). */
function bg(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.stdin.end(input ?? '');
    p.on('close', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

let dir = '';
beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'cli.js')) || newest(join(ROOT, 'src')) > newest(join(ROOT, 'dist'))) {
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
  }
  dir = mkdtempSync(join(tmpdir(), 'bg-clibin-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TUNNEL = (psk: string, extra = ''): string => `tunnels:
  - name: gsa-primary
    localAddress: 192.0.2.10
    remoteAddress: 198.51.100.7
    ${psk}
    profile: gsa-default${extra}
`;

describe('the program', () => {
  it('--version, and a bad option is a three-line hint (exit 2), not Node\'s message and the whole usage', async () => {
    expect(await bg(['--version'])).toEqual({ code: 0, out: `branchgate ${VERSION}\n`, err: '' });
    const r = await bg(['status', '--jsno']);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe("branchgate: unknown option '--jsno'\nusage: branchgate status [--json] [--check] [--socket PATH] [--config FILE]\n(more: branchgate help status)\n");
    const v = await bg(['up', 'a', '--timeout']);
    expect(v.err).toMatch(/^branchgate: option '--timeout' needs a value\nusage: branchgate up NAME /);
    const t = await bg(['up', 'a', '--timeout', '5']);
    expect(t.err).toMatch(/^branchgate: --timeout only makes sense with --wait\n/);
  });

  it('help, completion and the man page all come from the one command table', async () => {
    const help = await bg(['help']);
    expect(help.code).toBe(0);
    for (const c of COMMANDS) expect(help.out).toMatch(new RegExp(`^  ${c.name} +${c.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    const bash = await bg(['completion', 'bash']);
    const zsh = await bg(['completion', 'zsh']);
    const man = await bg(['help', '--man'], { SOURCE_DATE_EPOCH: '1767225600' });
    expect(man.out).toMatch(/^\.TH BRANCHGATE 1 "2026-01-01" "branchgate /);
    for (const c of COMMANDS) {
      for (const text of [bash.out, zsh.out]) expect(text).toContain(`${c.name})`);
      expect(man.out).toContain(`.B ${c.name.replace(/-/g, '\\-')}`);
      for (const o of [...c.options, ...(c.subcommands ?? []).flatMap((s) => s.options)]) {
        expect(bash.out, `bash: --${o.name} of ${c.name}`).toContain(`--${o.name}`);
        expect(zsh.out, `zsh: --${o.name} of ${c.name}`).toContain(`--${o.name}`);
        expect(man.out, `man: --${o.name} of ${c.name}`).toContain(`\\-\\-${o.name.replace(/-/g, '\\-')}`);
      }
    }
    expect(spawnSync('bash', ['-n'], { input: bash.out }).status).toBe(0);
    // Loaded into bash, it completes commands and a command's options.
    const script = `${bash.out}\nCOMP_WORDS=(branchgate st); COMP_CWORD=1; _branchgate; echo "\${COMPREPLY[*]}"\n` +
      'COMP_WORDS=(branchgate status --c); COMP_CWORD=2; _branchgate; echo "${COMPREPLY[*]}"\n';
    expect(spawnSync('bash', ['-c', script], { encoding: 'utf8' }).stdout).toBe('status\n--check --config\n');
    const groff = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z'], { input: man.out, encoding: 'utf8' });
    if (groff.error === undefined) expect(groff.stderr).toBe('');
  });

  it('check-config without a file reads $BRANCHGATE_CONFIG, else /etc/branchgate/config.yaml', async () => {
    const f = join(dir, 'env.yaml');
    writeFileSync(f, TUNNEL('psk: "a-pre-shared-key-of-30-octets!"'));
    expect(await bg(['check-config'], { BRANCHGATE_CONFIG: f })).toEqual({ code: 0, out: `${f}: ok (1 tunnel)\n`, err: '' });
    if (!existsSync('/etc/branchgate/config.yaml')) {
      const r = await bg(['check-config']);
      expect(r.code).toBe(2);
      expect(r.err).toBe('/etc/branchgate/config.yaml: cannot read: no such file — check the path and permissions\n');
    }
  });

  it('check-config --offline passes with absent secrets; without it they are errors', async () => {
    const f = join(dir, 'repo.yaml');
    writeFileSync(f, TUNNEL('pskEnv: GSA_PSK') + TUNNEL('pskFile: keys/zone2.psk').replace('tunnels:\n', '').replace('gsa-primary', 'gsa-secondary'));
    const strict = await bg(['check-config', f]);
    expect(strict.code).toBe(2);
    expect(strict.err).toMatch(/repo\.yaml:5:\d+: tunnels\.0\.pskEnv: environment variable GSA_PSK is not set/);
    expect(strict.err).toMatch(/repo\.yaml:\d+:\d+: tunnels\.1\.pskFile: cannot read .*zone2\.psk: no such file/);
    expect(await bg(['check-config', '--offline', f])).toEqual({ code: 0, out: `${f}: ok (2 tunnels), secrets not checked (--offline)\n`, err: '' });
    // The shipped examples and the package template check offline with no PSK anywhere.
    const shipped = [...readdirSync(join(ROOT, 'config')).filter((x) => x.endsWith('.yaml')).map((x) => join(ROOT, 'config', x)), join(ROOT, 'packaging', 'config.yaml')];
    expect(shipped.length).toBeGreaterThanOrEqual(7);
    for (const ex of shipped) expect(await bg(['check-config', '--offline', ex]), ex).toMatchObject({ code: 0 });
    expect((await bg(['check-config', join(ROOT, 'config', 'gsa-default.yaml')])).err).toMatch(/environment variable GSA_PSK is not set/);
    // Offline is not lenient about anything else.
    writeFileSync(f, TUNNEL('pskEnv: GSA_PSK').replace('198.51.100.7', '198.51.100.700'));
    expect((await bg(['check-config', '--offline', f])).code).toBe(2);
  });

  it('check-config --json: one document with file, line and column per issue; --strict fails on warnings', async () => {
    const f = join(dir, 'json.yaml');
    writeFileSync(f, TUNNEL('psk: "short-key-12"'));
    const ok = await bg(['check-config', '--json', f]);
    expect(ok.code).toBe(0);
    const doc = JSON.parse(ok.out) as { ok: boolean; tunnels: number; errors: unknown[]; warnings: { file: string; line: number; col: number; path: string; message: string }[] };
    expect(doc).toMatchObject({ file: f, ok: true, tunnels: 1, errors: [] });
    expect(doc.warnings).toEqual([{ file: f, line: 5, col: 10, path: 'tunnels.0.psk',
      message: 'the pre-shared key is only 12 octets: use 20 or more random octets, e.g. `openssl rand -base64 30` (the peer needs the same key)' }]);
    expect(ok.out).not.toContain('short-key-12');
    const strict = await bg(['check-config', '--strict', f]);
    expect(strict.code).toBe(2);
    expect(strict.out).toBe('');
    expect(strict.err).toMatch(/^warning: .*json\.yaml:5:10: tunnels\.0\.psk: the pre-shared key is only 12 octets.*\n.*json\.yaml: 1 warning, which --strict treats as errors\n$/);
    const sj = await bg(['check-config', '--strict', '--json', f]);
    expect(sj.code).toBe(2);
    expect(JSON.parse(sj.out)).toMatchObject({ ok: false });
    writeFileSync(f, TUNNEL('psk: "short-key-12"').replace('198.51.100.7', '198.51.100.700'));
    const bad = await bg(['check-config', '--json', f]);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.out)).toMatchObject({ ok: false, tunnels: null, errors: [{ file: f, line: 4, path: 'tunnels.0.remoteAddress' }] });
  });

  it('refuses a PSK under 8 octets and a config over 1 MiB, with what to do', async () => {
    const f = join(dir, 'psk.yaml');
    writeFileSync(f, TUNNEL('psk: "7octets"'));
    const r = await bg(['check-config', f]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`${f}:5:10: tunnels.0.psk: the pre-shared key is 7 octets, shorter than the minimum of 8: use 20 or more random octets, e.g. \`openssl rand -base64 30\` (the peer needs the same key)\n`);
    const big = join(dir, 'big.yaml');
    writeFileSync(big, `${TUNNEL('psk: "a-pre-shared-key-of-30-octets!"')}# ${'x'.repeat(1024 * 1024)}\n`);
    const b = await bg(['check-config', big]);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/^.*big\.yaml: 1048\d{3} bytes is more than a config may be \(1048576 bytes, 1 MiB\) — is this the right file\?\n$/);
  });

  it('show-config: profiles expanded into proposals, defaults filled, secrets hidden (YAML and JSON)', async () => {
    const f = join(dir, 'show.yaml');
    const key = 'a-pre-shared-key-of-30-octets!';
    writeFileSync(f, TUNNEL(`psk: "${key}"`));
    const y = await bg(['show-config', f]);
    expect(y.code).toBe(0);
    expect(y.out).not.toContain(key);
    const doc = parse(y.out) as { control: { socket: string }; tunnels: Record<string, unknown>[] };
    const j = await bg(['show-config', '--json', f]);
    expect(JSON.parse(j.out)).toEqual(doc);
    const t = doc.tunnels[0]!;
    expect(t.psk).toBe('(hidden)');
    expect(t.profile).toBeUndefined();
    expect((t.ike as string[]).length).toBeGreaterThan(1);
    expect(t.ike).toContain('aes256gcm16-prfsha384-modp2048s256');
    expect(t).toMatchObject({ localId: '192.0.2.10', remoteId: '198.51.100.7', interface: 'bg0', dpd: expect.any(Number), ikeLifetime: 28800 });
    expect(doc.control.socket).toBe('/run/branchgate/control.sock');
    expect((await bg(['show-config', join(dir, 'none.yaml')])).code).toBe(2);
  });
});

describe('the program against a daemon', () => {
  let d: Daemon | undefined;
  afterEach(async () => {
    await d?.stop();
    d = undefined;
  });

  it('finds the socket in the config file when --socket is absent (--config, $BRANCHGATE_CONFIG); --socket and $BRANCHGATE_SOCKET win', async () => {
    const sock = join(dir, 'found.sock');
    const cfg = join(dir, 'found.yaml');
    writeFileSync(cfg, CONFIG_YAML.replace('log:\n  level: info\n', `log:\n  level: info\ncontrol:\n  socket: ${sock}\n`));
    d = (await startFakeDaemon(cfg)).d;
    const line = 't1  down  - -> -  -  0 children\n';
    expect(await bg(['status', '--config', cfg])).toEqual({ code: 0, out: line, err: '' });
    expect(await bg(['status'], { BRANCHGATE_CONFIG: cfg })).toEqual({ code: 0, out: line, err: '' });
    const wrong = join(dir, 'wrong.sock');
    expect((await bg(['status', '--config', cfg, '--socket', wrong])).err).toContain(`cannot reach branchgate at ${wrong}`);
    expect((await bg(['status'], { BRANCHGATE_CONFIG: cfg, BRANCHGATE_SOCKET: wrong })).err).toContain(`cannot reach branchgate at ${wrong}`);
    // A config file that does not parse is no reason to fail: the default socket is tried.
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'control: [');
    expect((await bg(['status', '--config', broken])).err).toContain('cannot reach branchgate at /run/branchgate/control.sock');
  });

  it('a reload of a file over 1 MiB is refused and changes nothing', async () => {
    const sock = join(dir, 'big.sock');
    const cfg = join(dir, 'reload-big.yaml');
    writeFileSync(cfg, CONFIG_YAML);
    d = (await startFakeDaemon(cfg, sock)).d;
    writeFileSync(cfg, `${CONFIG_YAML}# ${'y'.repeat(2 * 1024 * 1024)}\n`);
    const r = await bg(['reload', '--socket', sock]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/the config did not load; nothing changed:\n.*reload-big\.yaml: 2097\d{3} bytes is more than a config may be/);
    writeFileSync(cfg, CONFIG_YAML);
    expect(await bg(['reload', '--socket', sock])).toEqual({ code: 0, out: 't1: unchanged, SAs kept\n', err: '' });
  });
});
