/**
 * Packaging without a Docker engine (none runs where this project is developed or tested):
 * - the Dockerfile is checked statically: stages, every COPY source exists and is not excluded
 *   by .dockerignore, every script it runs exists and is executable, build.sh's inputs are all
 *   copied, and the runtime stage runs as a non-root user with a control-socket healthcheck;
 * - scripts/docker/build.sh, the builder stage's one build step, really runs on the host into a
 *   temporary directory (npm ci --prefer-offline from the npm cache, tsc, node-gyp against the
 *   running Node's headers, npm prune --omit=dev) and the result starts;
 * - scripts/docker/runtime-deps.sh runs in --check mode (changes nothing), and its --node-caps
 *   step is proven to refuse outside an image (with a stub setcap, so a regression cannot touch
 *   this machine's node);
 * - packaging/branchgate.service passes `systemd-analyze verify` with no diagnostics at all
 *   (verify exits 0 even on unknown keys, so any output fails). With CI=true a missing
 *   systemd-analyze fails the test instead of skipping it (Debian package: systemd).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync, symlinkSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');

interface Instruction { stage: number; op: string; args: string }
interface Stage { base: string; name: string | undefined }

/** Dockerfile → instructions (continuations joined, comments dropped) and stages. */
function parseDockerfile(text: string): { stages: Stage[]; ins: Instruction[] } {
  const logical: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    if (cur === '' && /^\s*#/.test(raw)) continue;
    if (raw.trimEnd().endsWith('\\')) {
      cur += raw.trimEnd().slice(0, -1) + ' ';
      continue;
    }
    cur += raw;
    if (cur.trim() !== '') logical.push(cur.trim());
    cur = '';
  }
  const stages: Stage[] = [];
  const ins: Instruction[] = [];
  for (const line of logical) {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`unparsable Dockerfile line: ${line}`);
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(m[2]!);
      if (!f) throw new Error(`bad FROM: ${line}`);
      stages.push({ base: f[1]!, name: f[2] });
    }
    ins.push({ stage: stages.length - 1, op, args: m[2]! });
  }
  return { stages, ins };
}

/** COPY/ADD flags and sources (JSON form or shell form); the last word is the destination. */
function copySources(args: string): { from: string | undefined; sources: string[] } {
  const words = args.trim().startsWith('[') ? (JSON.parse(args) as string[]) : args.trim().split(/\s+/);
  let from: string | undefined;
  const rest: string[] = [];
  for (const w of words) {
    if (w.startsWith('--from=')) from = w.slice('--from='.length);
    else if (!w.startsWith('--')) rest.push(w);
  }
  return { from, sources: rest.slice(0, -1) };
}

/** .dockerignore patterns that exclude `path` (plain prefixes and `*.ext`, which is all we use). */
function ignoredBy(path: string, patterns: string[]): string[] {
  const p = path.replace(/\/$/, '');
  return patterns.filter((pat) => {
    if (pat.startsWith('*.')) return p.endsWith(pat.slice(1));
    return p === pat || p.startsWith(`${pat}/`);
  });
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

describe('Dockerfile (static check; no Docker engine here)', () => {
  const { stages, ins } = parseDockerfile(read('Dockerfile'));
  const ignore = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const last = stages.length - 1;

  it('has a builder and a runtime stage on Debian 12 with Node 20', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    const arg = ins.find((i) => i.op === 'ARG' && i.stage === -1 && i.args.startsWith('NODE_IMAGE='));
    expect(arg?.args).toBe('NODE_IMAGE=node:20-bookworm-slim');
    for (const s of stages) expect(s.base).toBe('${NODE_IMAGE}');
  });

  it('copies only sources that exist, are not dockerignored, and come from earlier stages', () => {
    for (const i of ins.filter((x) => x.op === 'COPY' || x.op === 'ADD')) {
      const { from, sources } = copySources(i.args);
      expect(sources.length, i.args).toBeGreaterThan(0);
      if (from !== undefined) {
        const idx = stages.findIndex((s) => s.name === from);
        expect(idx, `COPY --from=${from} names no stage`).toBeGreaterThanOrEqual(0);
        expect(idx, `COPY --from=${from} must name an earlier stage`).toBeLessThan(i.stage);
        continue;
      }
      for (const src of sources) {
        expect(existsSync(join(ROOT, src)), `COPY source ${src} does not exist`).toBe(true);
        expect(ignoredBy(src, ignore), `COPY source ${src} is excluded by .dockerignore`).toEqual([]);
      }
    }
  });

  it('runs only scripts that exist and are executable, copied before they run', () => {
    const copied = new Map<number, string[]>();
    for (const i of ins) {
      if (i.op === 'COPY' && copySources(i.args).from === undefined) {
        copied.set(i.stage, [...(copied.get(i.stage) ?? []), ...copySources(i.args).sources]);
      }
      if (i.op !== 'RUN') continue;
      for (const m of i.args.matchAll(/(?:^|[\s;&|])((?:\/usr\/local\/lib\/branchgate\/|scripts\/)[\w./-]+\.sh)/g)) {
        const script = m[1]!;
        // Scripts are run either from the build context path or from where a COPY put them.
        const repoPath = script.startsWith('scripts/') ? script : `scripts/docker/${script.split('/').pop()}`;
        expect(existsSync(join(ROOT, repoPath)), `${script} (${repoPath}) does not exist`).toBe(true);
        expect(isExecutable(join(ROOT, repoPath)), `${repoPath} is not executable (git update-index --chmod=+x)`).toBe(true);
        expect((copied.get(i.stage) ?? []).some((c) => c === repoPath || repoPath.startsWith(c.replace(/\/?$/, '/'))),
          `${repoPath} is run before it is copied into stage ${i.stage}`).toBe(true);
      }
    }
  });

  it('copies every input build.sh reads into the builder stage (script and Dockerfile agree)', () => {
    const m = /^INPUTS=\(([^)]*)\)/m.exec(read('scripts/docker/build.sh'));
    expect(m).not.toBeNull();
    const inputs = m![1]!.split(/\s+/).filter(Boolean);
    const buildStage = stages.findIndex((s) => s.name === 'build');
    const copied = ins.filter((i) => i.stage === buildStage && i.op === 'COPY').flatMap((i) => copySources(i.args).sources.map((s) => s.replace(/\/$/, '')));
    for (const input of inputs) expect(copied, `build.sh input ${input} is not COPYed in the build stage`).toContain(input);
    expect(ins.some((i) => i.stage === buildStage && i.op === 'RUN' && /scripts\/docker\/build\.sh \/opt\/branchgate/.test(i.args))).toBe(true);
    expect(ins.some((i) => i.stage === last && i.op === 'COPY' && /--from=build \/opt\/branchgate \/opt\/branchgate/.test(i.args))).toBe(true);
  });

  it('runs as a non-root user, with a healthcheck through the control socket', () => {
    const user = ins.filter((i) => i.stage === last && i.op === 'USER').pop();
    expect(user?.args).toBe('branchgate');
    // The healthcheck is `status --check` through the probe script (0 healthy, else unhealthy);
    // test/interop/container.test.ts runs it in a real container.
    const hc = ins.find((i) => i.stage === last && i.op === 'HEALTHCHECK');
    expect(hc?.args).toMatch(/CMD \["\/usr\/local\/bin\/branchgate-probe", "ready", "\/run\/branchgate\/control\.sock"\]/);
    expect(ins.some((i) => i.stage === last && i.op === 'COPY' && i.args === 'deploy/container/branchgate-probe /usr/local/bin/branchgate-probe')).toBe(true);
    expect(isExecutable(join(ROOT, 'deploy/container/branchgate-probe'))).toBe(true);
    expect(read('deploy/container/branchgate-probe')).toContain('status --check --socket "$sock"');
    const entry = ins.find((i) => i.stage === last && i.op === 'ENTRYPOINT');
    expect(JSON.parse(entry!.args)).toEqual(['/usr/bin/tini', '--', 'node', '/opt/branchgate/bin/branchgate.js']);
    // The file capabilities are the runtime stage's last RUN: node needs NET_ADMIN after it.
    const runs = ins.filter((i) => i.stage === last && i.op === 'RUN');
    expect(runs.at(-1)!.args).toMatch(/runtime-deps\.sh --node-caps$/);
    expect(ins.some((i) => i.stage === last && i.op === 'ENV' && i.args === 'BRANCHGATE_CONTAINER=1')).toBe(true);
  });
});

describe('scripts/docker', () => {
  it('are valid bash and executable', () => {
    for (const s of ['scripts/docker/build.sh', 'scripts/docker/runtime-deps.sh']) {
      expect(isExecutable(join(ROOT, s)), `${s} not executable`).toBe(true);
      const r = spawnSync('bash', ['-n', join(ROOT, s)], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    }
  });

  it('build.sh --check finds the toolchain and the inputs', () => {
    const r = spawnSync(join(ROOT, 'scripts/docker/build.sh'), ['--check'], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^build\.sh: toolchain and inputs OK \(node v\d+/m);
  });

  it('build.sh refuses to overwrite a directory that is not an earlier build', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-pkg-'));
    try {
      writeFileSync(join(dir, 'precious.txt'), 'user data');
      const r = spawnSync(join(ROOT, 'scripts/docker/build.sh'), [dir], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`${dir} exists and is not an earlier branchgate build`);
      expect(readFileSync(join(dir, 'precious.txt'), 'utf8')).toBe('user data');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('build.sh builds a deployable tree on the host: production deps only, native addon, it starts', { timeout: 300_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-pkg-'));
    const target = join(dir, 'opt-branchgate');
    try {
      const r = spawnSync(join(ROOT, 'scripts/docker/build.sh'), [target], { encoding: 'utf8', timeout: 280_000 });
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      for (const p of ['bin/branchgate.js', 'dist/cli.js', 'dist/daemon.js', 'native/build/Release/branchgate_native.node',
        'node_modules/pino/package.json', 'node_modules/prom-client/package.json', 'config', 'package.json', '.branchgate-build']) {
        expect(existsSync(join(target, p)), `${p} missing from the built tree`).toBe(true);
      }
      // npm prune --omit=dev ran: no test or build tools, no sources.
      for (const p of ['node_modules/vitest', 'node_modules/typescript', 'node_modules/fast-check', 'src', 'test', 'native/src']) {
        expect(existsSync(join(target, p)), `${p} should not be in the built tree`).toBe(false);
      }
      expect(readdirSync(dir)).toEqual(['opt-branchgate']); // no .new/.old leftovers
      const v = spawnSync(process.execPath, [join(target, 'bin/branchgate.js'), 'version'], { encoding: 'utf8' });
      expect(v.status, v.stderr).toBe(0);
      expect(v.stdout).toMatch(/^branchgate \d+\.\d+\.\d+/);
      expect(v.stdout).toMatch(/native fast path: loaded/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runtime-deps.sh --check reports without changing anything', () => {
    const r = spawnSync(join(ROOT, 'scripts/docker/runtime-deps.sh'), ['--check', join(tmpdir(), 'bg-no-such-tree')], { encoding: 'utf8' });
    expect([0, 1], r.stderr).toContain(r.status);
    for (const line of r.stdout.trim().split('\n')) {
      expect(line).toMatch(/^(missing package: \S+ \(apt-get install \S+\)|missing user: branchgate|note: no built tree at .*|runtime-deps: nothing missing)$/);
    }
  });

  it('runtime-deps.sh --node-caps refuses outside an image build (stub setcap: a regression cannot touch this node)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-caps-'));
    try {
      const bin = join(dir, 'bin');
      mkdirSync(bin);
      const log = join(dir, 'setcap.log');
      for (const tool of ['setcap', 'getcap']) {
        writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >>"${log}"\n`, { mode: 0o755 });
      }
      symlinkSync(process.execPath, join(bin, 'node'));
      const env = { PATH: `${bin}:/usr/bin:/bin` };
      const refused = spawnSync(join(ROOT, 'scripts/docker/runtime-deps.sh'), ['--node-caps'], { encoding: 'utf8', env });
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('--node-caps is for container images only');
      expect(existsSync(log)).toBe(false);
      const image = spawnSync(join(ROOT, 'scripts/docker/runtime-deps.sh'), ['--node-caps'], { encoding: 'utf8', env: { ...env, BRANCHGATE_CONTAINER: '1' } });
      expect(image.status, image.stderr).toBe(0);
      expect(readFileSync(log, 'utf8').split('\n')[0]).toBe(`setcap cap_net_admin,cap_net_bind_service+ep ${process.execPath}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('packaging/branchgate.service', () => {
  const unit = read('packaging/branchgate.service');
  const values = (key: string): string[] =>
    unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

  it('runs unprivileged with exactly CAP_NET_ADMIN and CAP_NET_BIND_SERVICE, reloads with `branchgate reload`, keeps /dev/net/tun', () => {
    expect(values('User')).toEqual(['branchgate']);
    expect(values('AmbientCapabilities')).toEqual(['CAP_NET_ADMIN CAP_NET_BIND_SERVICE']);
    expect(values('CapabilityBoundingSet')).toEqual(['CAP_NET_ADMIN CAP_NET_BIND_SERVICE']);
    expect(values('RuntimeDirectory')).toEqual(['branchgate']);
    // Synchronous and failing on a bad file, unlike `kill -HUP`, which always "succeeds".
    expect(values('ExecReload')).toEqual(['/usr/bin/branchgate reload --config /etc/branchgate/config.yaml']);
    expect(values('ExecStart')).toEqual(['/usr/bin/branchgate run --config /etc/branchgate/config.yaml']);
    // Type=notify with a watchdog; a config error (exit 2) is not restarted forever.
    expect(values('Type')).toEqual(['notify']);
    expect(values('NotifyAccess')).toEqual(['main']);
    expect(Number(values('WatchdogSec')[0]!.replace(/s$/, ''))).toBeGreaterThan(0);
    expect(values('Restart')).toEqual(['on-failure']);
    expect(values('RestartPreventExitStatus')).toEqual(['2']);
    expect(values('SyslogIdentifier')).toEqual(['branchgate']);
    expect(values('ProtectSystem')).toEqual(['strict']);
    expect(values('NoNewPrivileges')).toEqual(['yes']);
    expect(values('DevicePolicy')).toEqual(['closed']);
    expect(values('DeviceAllow')).toEqual(['/dev/net/tun rw']);
    expect(values('PrivateDevices')).toEqual([]); // would hide /dev/net/tun
    expect(values('MemoryDenyWriteExecute')).toEqual([]); // V8's JIT needs W+X pages
    expect(values('RestrictAddressFamilies')[0]).toContain('AF_NETLINK'); // routes and BIRD
  });

  it('hardening that leaves BIRD and ip working: no switch, chown or capset needed when started as User=', () => {
    // docs/privileges.md: started as the user, nothing calls setuid/setgroups/chown/capset.
    expect(values('SystemCallFilter')).toEqual(['@system-service', '~@privileged']);
    expect(values('RemoveIPC')).toEqual(['yes']);
    expect(values('PrivateMounts')).toEqual(['yes']);
    // These would break it: BIRD and ip work in the host's network namespace, with /proc/sys.
    for (const k of ['PrivateNetwork', 'PrivateUsers', 'ProcSubset']) expect(values(k), k).toEqual([]);
    expect(unit).toContain('docs/privileges.md');
  });

  it('passes systemd-analyze verify without a single diagnostic', () => {
    const which = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' });
    if (which.status !== 0) {
      if (process.env.CI === 'true') {
        throw new Error('systemd-analyze is not installed: CI must install the Debian package "systemd" (.ci/run PKGS)');
      }
      console.warn('skipping systemd-analyze verify: not installed (Debian package systemd)');
      return;
    }
    // The unit names /usr/bin/branchgate, which only the installed package provides (the package
    // test verifies the installed unit): here a copy runs the repository's launcher instead.
    const dir = mkdtempSync(join(tmpdir(), 'bg-unit-'));
    try {
      const launcher = join(dir, 'branchgate');
      writeFileSync(launcher, readFileSync(join(ROOT, 'packaging/branchgate.sh'), 'utf8'), { mode: 0o755 });
      const copy = join(dir, 'branchgate.service');
      writeFileSync(copy, unit.replaceAll('/usr/bin/branchgate ', `${launcher} `));
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', copy], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
