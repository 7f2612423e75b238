/**
 * Runs the branchgate daemon in a network namespace against the user-facing contract
 * (docs/contract.md): a YAML config, `branchgate run --config FILE`, and the control
 * commands `list-sas --json`, `up`, `down`, `rekey`, `monitor` over `--socket PATH`. Needs dist/
 * (`npm run build`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
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
  private monitors: Monitor[] = [];
  private env: NodeJS.ProcessEnv = {};
  private launcher: string[] = [];

  private constructor(readonly ns: string, tag: string) {
    this.dir = makeTempDir(`bg${tag}`);
    this.socket = join(this.dir, 'control.sock');
    this.configFile = join(this.dir, 'branchgate.yaml');
    this.stdoutPath = join(this.dir, 'stdout.jsonl');
    this.stderrPath = join(this.dir, 'stderr.txt');
  }

  /** Writes the config and starts `branchgate run` in `ns`; resolves once the control socket answers. */
  static async start(ns: string, tunnels: BgTunnelConfig[], opts: {
    tag?: string; logLevel?: string; extra?: Record<string, unknown>; env?: NodeJS.ProcessEnv;
    /** Runs after the config is written, before the daemon starts (e.g. hand the dir to another user). */
    beforeLaunch?: (bg: Branchgate) => void | Promise<void>;
    /** Argv put before `node` inside the namespace, e.g. setpriv to start as another user. */
    launcher?: string[];
  } = {}): Promise<Branchgate> {
    requireBuild();
    const bg = new Branchgate(ns, opts.tag ?? ns);
    bg.env = opts.env ?? {};
    bg.launcher = opts.launcher ?? [];
    bg.writeConfig(tunnels, opts.logLevel ?? 'debug', opts.extra);
    await opts.beforeLaunch?.(bg);
    await bg.launch();
    return bg;
  }

  writeConfig(tunnels: BgTunnelConfig[], logLevel = 'debug', extra: Record<string, unknown> = {}): void {
    // extra.control adds to the control section (e.g. metrics); the socket stays this harness's.
    const { control, ...rest } = extra as { control?: Record<string, unknown> };
    const doc = { log: { level: logLevel }, control: { ...control, socket: this.socket }, tunnels, ...rest };
    writeFileSync(this.configFile, stringify(doc));
  }

  private async launch(): Promise<void> {
    // The daemon writes its log straight into the files: through a pipe to this (busy) test
    // process, a full pipe would stall the daemon's synchronous logging and with it the daemon.
    const so = openSync(this.stdoutPath, 'a');
    const se = openSync(this.stderrPath, 'a');
    const p = spawn('ip', ['netns', 'exec', this.ns, ...this.launcher, process.execPath, BIN, 'run', '--config', this.configFile], {
      stdio: ['ignore', so, se],
      cwd: REPO_ROOT,
      env: { ...process.env, ...this.env },
    });
    closeSync(so);
    closeSync(se);
    this.proc = p;
    trackProcess(p);
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

  /** `branchgate rekey NAME [--ike] [--wait]`; resolves with the CLI's result (never throws on exit ≠ 0). */
  async rekey(name: string, opts: { ike?: boolean; wait?: boolean } = {}): Promise<{ stdout: string; stderr: string; code: number }> {
    const args = ['rekey', name, ...(opts.ike ? ['--ike'] : []), ...(opts.wait ? ['--wait'] : [])];
    return run([process.execPath, BIN, ...args, '--socket', this.socket], { timeoutMs: 40_000, allowFail: true });
  }

  /** Start `branchgate monitor` against this daemon; its events are collected with the time they arrived. */
  async monitor(): Promise<Monitor> {
    const m = await Monitor.start(this.socket);
    this.monitors.push(m);
    return m;
  }

  /** The daemon's JSON log lines so far (stdout), parsed; lines that are not JSON are skipped. */
  logRecords(): Record<string, unknown>[] {
    if (!existsSync(this.stdoutPath)) return [];
    const out: Record<string, unknown>[] = [];
    for (const line of readFileSync(this.stdoutPath, 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line cut by a concurrent write
      }
    }
    return out;
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
    for (const m of this.monitors.splice(0)) m.stop();
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
    if (!opts.keepDir) removeTempDir(this.dir);
    return status;
  }
}

/** One event line of `branchgate monitor`, with the local time it was read (ms). */
export interface MonitorLine {
  at: number;
  event: { time: string; source: string; type: string; tunnel?: string } & Record<string, unknown>;
}

/** `branchgate monitor --socket PATH` as a child process: events collected as they arrive. */
export class Monitor {
  readonly lines: MonitorLine[] = [];
  private buf = '';
  private stderr = '';

  private constructor(private readonly proc: ChildProcess) {
    proc.stdout?.on('data', (d: Buffer) => {
      this.buf += d.toString();
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        try {
          this.lines.push({ at: Date.now(), event: JSON.parse(line) as MonitorLine['event'] });
        } catch {
          this.stderr += `(not JSON) ${line}\n`;
        }
      }
    });
    proc.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  /** Spawns the CLI and waits until the daemon has accepted the subscription (a short settle). */
  static async start(socket: string): Promise<Monitor> {
    const p = spawn(process.execPath, [BIN, 'monitor', '--socket', socket], { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT });
    trackProcess(p);
    const m = new Monitor(p);
    // The CLI connects and subscribes within a few hundred ms of starting node.
    await new Promise((r) => setTimeout(r, 800));
    if (p.exitCode !== null) throw new Error(`branchgate monitor exited ${p.exitCode}: ${m.stderr}`);
    return m;
  }

  events(type?: string, since = 0): MonitorLine[] {
    return this.lines.filter((l) => l.at >= since && (type === undefined || l.event.type === type));
  }

  /** Waits for the first event (arrived at or after `since`) that matches; resolves with it. */
  wait(what: string, pred: (e: MonitorLine['event']) => boolean, timeoutMs: number, since = 0): Promise<MonitorLine> {
    return waitFor(`monitor event: ${what}`, async () => this.lines.find((l) => l.at >= since && pred(l.event)), timeoutMs, 50);
  }

  /** What the monitor printed on stderr, and whether it is still running (for failure messages). */
  describe(): string {
    return `monitor ${this.proc.exitCode === null ? 'running' : `exited ${this.proc.exitCode}`}; ${this.lines.length} events; stderr: ${this.stderr.trim() || '(none)'}`;
  }

  stop(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGINT');
  }
}
