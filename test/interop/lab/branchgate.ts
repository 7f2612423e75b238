/**
 * Runs the branchgate daemon in a network namespace against the user-facing contract
 * (shared/design/contract.md): a YAML config, `branchgate run --config FILE`, and the control
 * commands `list-sas --json`, `up`, `down` over `--socket PATH`. Needs dist/ (`npm run build`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, writeFileSync, type WriteStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { makeTempDir, removeTempDir, run, tailFile, trackProcess, waitFor } from './netns.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = join(REPO_ROOT, 'bin', 'branchgate.js');

/** One tunnel, using the contract's YAML keys. */
export interface BgTunnelConfig {
  name: string;
  localAddress?: string;
  remoteAddress: string;
  localId?: string;
  remoteId?: string;
  psk: string;
  profile?: 'gsa-default';
  ike?: string[];
  esp?: string[];
  natT?: 'auto' | 'force';
  initiate?: boolean;
  dpd?: number | string;
  pfs?: string;
  ikeLifetime?: number | string;
  childLifetime?: number | string;
  localTs?: string[];
  remoteTs?: string[];
  interface?: string;
  mtu?: number;
  routes?: string[];
  /** Any further contract keys. */
  [key: string]: unknown;
}

/** `list-sas --json` shapes. */
export interface BgIke {
  spiI: string;
  spiR: string;
  encr: string;
  integ?: string | null;
  prf: string;
  dh: string;
}
export interface BgChild {
  spiIn: string;
  spiOut: string;
  encr: string;
  integ?: string | null;
  esn: boolean;
  encap: boolean;
}
export interface BgTunnel {
  name: string;
  state: string;
  local: string | null;
  remote: string | null;
  natDetected: boolean;
  ike?: BgIke | null;
  children: BgChild[];
}

/** `status --json` shapes (contract.md "Status document"). */
export interface BgStatusChild {
  spiIn: string;
  spiOut: string;
  encr: string;
  esn: boolean;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  replayDrops: number;
  authFailures: number;
}
export interface BgStatusTunnel {
  name: string;
  state: string;
  local: string | null;
  remote: string | null;
  natDetected: boolean;
  children: BgStatusChild[];
  routes: string[];
}

/** Sum of one counter over a tunnel's children (0 without a tunnel). */
export function childSum(t: BgStatusTunnel | undefined, k: 'bytesIn' | 'bytesOut' | 'packetsIn' | 'packetsOut'): number {
  return (t?.children ?? []).reduce((a, c) => a + (Number(c[k]) || 0), 0);
}

/** Fails with a clear message when the build output the launcher needs is missing. */
export function requireBuild(): void {
  if (!existsSync(join(REPO_ROOT, 'dist', 'cli.js'))) {
    throw new Error(`${join(REPO_ROOT, 'dist', 'cli.js')} is missing: run \`npm run build\` first (\`npm test\` and \`bash .ci/run\` do)`);
  }
}

export class Branchgate {
  readonly dir: string;
  readonly socket: string;
  readonly configFile: string;
  readonly stdoutPath: string;
  readonly stderrPath: string;
  private proc: ChildProcess | undefined;
  private outs: WriteStream[] = [];

  private constructor(readonly ns: string, tag: string) {
    this.dir = makeTempDir(`bg${tag}`);
    this.socket = join(this.dir, 'control.sock');
    this.configFile = join(this.dir, 'branchgate.yaml');
    this.stdoutPath = join(this.dir, 'stdout.jsonl');
    this.stderrPath = join(this.dir, 'stderr.txt');
  }

  /** Writes the config and starts `branchgate run` in `ns`; resolves once the control socket answers. */
  static async start(ns: string, tunnels: BgTunnelConfig[], opts: { tag?: string; logLevel?: string; extra?: Record<string, unknown> } = {}): Promise<Branchgate> {
    requireBuild();
    const bg = new Branchgate(ns, opts.tag ?? ns);
    bg.writeConfig(tunnels, opts.logLevel ?? 'debug', opts.extra);
    await bg.launch();
    return bg;
  }

  writeConfig(tunnels: BgTunnelConfig[], logLevel = 'debug', extra: Record<string, unknown> = {}): void {
    const doc = { log: { level: logLevel }, control: { socket: this.socket }, tunnels, ...extra };
    writeFileSync(this.configFile, stringify(doc));
  }

  private async launch(): Promise<void> {
    const p = spawn('ip', ['netns', 'exec', this.ns, process.execPath, BIN, 'run', '--config', this.configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: REPO_ROOT,
    });
    this.proc = p;
    trackProcess(p);
    const so = createWriteStream(this.stdoutPath);
    const se = createWriteStream(this.stderrPath);
    this.outs = [so, se];
    p.stdout?.pipe(so);
    p.stderr?.pipe(se);
    await waitFor(`branchgate control socket ${this.socket}`, async () => {
      if (p.exitCode !== null || p.signalCode !== null) {
        throw new Error(`branchgate exited (${p.exitCode ?? p.signalCode}) before its control socket answered:\n${this.logs(30)}`);
      }
      if (!existsSync(this.socket)) return undefined;
      return (await this.cli(['list-sas', '--json'], true)).code === 0 ? true : undefined;
    }, 15_000, 150);
  }

  /** Runs a control command against this daemon (`--socket` appended). */
  async cli(args: string[], allowFail = false): Promise<{ stdout: string; stderr: string; code: number }> {
    return run([process.execPath, BIN, ...args, '--socket', this.socket], { timeoutMs: 10_000, allowFail });
  }

  async listSas(): Promise<BgTunnel[]> {
    const { stdout } = await this.cli(['list-sas', '--json']);
    const doc = JSON.parse(stdout) as { tunnels?: BgTunnel[] };
    if (!Array.isArray(doc.tunnels)) throw new Error(`list-sas --json: no "tunnels" array in ${stdout}`);
    return doc.tunnels;
  }

  async tunnel(name: string): Promise<BgTunnel | undefined> {
    return (await this.listSas()).find((t) => t.name === name);
  }

  /** `status --json`: the tunnel named `name` (undefined when the daemon does not list it). */
  async status(name: string): Promise<BgStatusTunnel | undefined> {
    const { stdout } = await this.cli(['status', '--json']);
    const doc = JSON.parse(stdout) as { tunnels?: BgStatusTunnel[] };
    if (!Array.isArray(doc.tunnels)) throw new Error(`status --json: no "tunnels" array in ${stdout}`);
    return doc.tunnels.find((t) => t.name === name);
  }

  /** Waits until tunnel `name` is established with at least one child. */
  waitEstablished(name: string, timeoutMs = 20_000): Promise<BgTunnel> {
    return waitFor(`branchgate tunnel ${name} established`, async () => {
      const t = await this.tunnel(name);
      return t && t.state === 'established' && t.children.length > 0 ? t : undefined;
    }, timeoutMs, 200);
  }

  async up(name: string): Promise<void> {
    await this.cli(['up', name]);
  }

  async down(name: string): Promise<void> {
    await this.cli(['down', name]);
  }

  pid(): number | undefined {
    return this.proc?.pid;
  }

  /** stdout (JSON log lines) and stderr tails. */
  logs(lines = 60): string {
    return `--- branchgate (${this.ns}) stdout ${this.stdoutPath} ---\n${tailFile(this.stdoutPath, lines)}\n` +
      `--- branchgate stderr ---\n${tailFile(this.stderrPath, lines)}\n--- config ${this.configFile} ---\n${tailFile(this.configFile, 200)}`;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; removes the temp dir unless keepDir. */
  async stop(opts: { graceMs?: number; keepDir?: boolean } = {}): Promise<number | string | null> {
    const p = this.proc;
    let status: number | string | null = p?.exitCode ?? p?.signalCode ?? null;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), opts.graceMs ?? 5000);
      await exited;
      clearTimeout(t);
      status = p.exitCode ?? p.signalCode;
    }
    await Promise.all(this.outs.map((s) => new Promise<void>((r) => s.end(() => r()))));
    if (!opts.keepDir) removeTempDir(this.dir);
    return status;
  }
}
