/**
 * HaSupervisor: branchgate's side of a VRRP pair (docs/ha.md). keepalived does VRRP; this
 * module writes its config (keepalived-config.ts), runs it as a supervised child
 * (keepalived-process.ts), tells it the box's health through the track file, learns the role
 * from the notify FIFO (notify-fifo.ts), and detects split brain with the probe (probe.ts).
 *
 * Role: 'master' | 'backup' | 'fault' as keepalived last reported it; 'unknown' before the first
 * report and while keepalived is not running (then the virtual addresses are removed: a box that
 * cannot take part in VRRP must not answer for the LAN's gateway).
 *
 * Virtual addresses are ours (we own what we made): removed before each keepalived start (a
 * SIGKILLed keepalived leaves them on the interface), and at stop.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { HaConfig } from '../config/ha-schema.js';
import { readAuthPass } from '../config/ha-rules.js';
import { SILENT, type BgpLog } from '../bgp/bird-process.js';
import { effectivePriority, instanceName, keepalivedPaths, renderKeepalivedConfig, type KeepalivedPaths } from './keepalived-config.js';
import { KeepalivedProcess } from './keepalived-process.js';
import { NotifyFifo, type NotifyLine } from './notify-fifo.js';
import { HaProbe, type ProbeMessage, type ProbeRole } from './probe.js';

export type HaRole = 'unknown' | 'master' | 'backup' | 'fault';

export type HaEvent =
  | { kind: 'role'; from: HaRole; to: HaRole; priority: number }
  | { kind: 'health'; healthy: boolean; priority: number }
  | { kind: 'split-brain'; detected: boolean; peerRole: ProbeRole }
  | { kind: 'keepalived'; what: 'started' | 'exited' | 'stopped' | 'reloaded'; pid?: number; code?: number | null; signal?: string | null; restartInMs?: number };

export interface HaStatus {
  role: HaRole;
  /** The priority keepalived advertises now: the configured one, or what tracking lowered it to. */
  priority: number;
  configuredPriority: number;
  healthy: boolean;
  /** Unhealthy with a healthy peer: in FAULT on purpose so the peer takes over at once. */
  resigned: boolean;
  virtualAddresses: string[];
  splitBrain: boolean;
  routerId: number;
  keepalived: { running: boolean; pid?: number };
  peer?: { role: ProbeRole; priority: number; ageMs: number };
  roleChanges: number;
  splitBrainEvents: number;
}

export interface HaSupervisorOptions {
  wrap?: string[];
  log?: BgpLog;
  backoff?: { initialMs: number; maxMs: number; stableMs: number };
  probeIntervalMs?: number;
}

const run = promisify(execFile);

function readAuthPassSafe(file: string): string {
  try {
    return readAuthPass(file);
  } catch {
    return '';
  }
}

export class HaSupervisor {
  private ha: HaConfig;
  private readonly paths: KeepalivedPaths;
  private readonly proc: KeepalivedProcess;
  private readonly fifo: NotifyFifo;
  private probe: HaProbe | undefined;
  private readonly log: BgpLog;
  private readonly wrap: string[];
  private readonly probeMs: number;
  private role: HaRole = 'unknown';
  private healthy = false;
  private resigned = false;
  private split = false;
  private peerSeen: { msg: ProbeMessage; at: number } | undefined;
  private readonly listeners = new Set<(e: HaEvent) => void>();
  private splitTimer: NodeJS.Timeout | undefined;
  private bothSince: number | undefined;
  private stopped = false;
  roleChanges = 0;
  splitBrainEvents = 0;

  constructor(ha: HaConfig, o: HaSupervisorOptions = {}) {
    this.ha = ha;
    this.log = o.log ?? SILENT;
    this.wrap = o.wrap ?? [];
    this.probeMs = o.probeIntervalMs ?? 500;
    this.paths = keepalivedPaths(ha.runtimeDir);
    this.fifo = new NotifyFifo(this.paths.fifo, (l) => this.onNotify(l));
    this.proc = new KeepalivedProcess({
      binary: ha.keepalived, paths: this.paths, wrap: this.wrap, log: this.log,
      // keepalived may quote a config line in an error; the auth pass must not reach our log.
      redact: (line) => {
        const pass = this.ha.authPassFile ? readAuthPassSafe(this.ha.authPassFile) : '';
        const l = line.replace(/(auth_pass\s+)\S+/g, '$1(hidden)');
        return pass.length >= 4 ? l.split(pass).join('(hidden)') : l;
      },
      backoff: o.backoff ?? { initialMs: 1000, maxMs: 30_000, stableMs: 60_000 },
      onStarted: (pid) => this.emit({ kind: 'keepalived', what: 'started', pid }),
      onExited: ({ code, signal, restartInMs }) => {
        this.setRole('unknown', 0);
        void this.dropAddresses();
        this.emit({ kind: 'keepalived', what: 'exited', code, signal, restartInMs });
      },
    });
  }

  onEvent(fn: (e: HaEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get isMaster(): boolean {
    return this.role === 'master';
  }

  status(): HaStatus {
    const p = this.peerSeen;
    return {
      role: this.role, priority: this.resigned ? 0 : effectivePriority(this.ha, this.healthy), resigned: this.resigned, configuredPriority: this.ha.priority, healthy: this.healthy,
      virtualAddresses: [...this.ha.virtualAddresses], splitBrain: this.split, routerId: this.ha.routerId,
      keepalived: { running: this.proc.running, ...(this.proc.pid !== undefined && { pid: this.proc.pid }) },
      ...(p && { peer: { role: p.msg.role, priority: p.msg.priority, ageMs: Date.now() - p.at } }),
      roleChanges: this.roleChanges, splitBrainEvents: this.splitBrainEvents,
    };
  }

  async start(): Promise<void> {
    mkdirSync(this.paths.dir, { recursive: true, mode: 0o700 });
    this.writeTrack();
    this.writeFile(this.paths.resignFile, '0\n');
    this.writeConfig();
    await this.fifo.open();
    await this.proc.killStale();
    await this.dropAddresses();
    await this.proc.start();
    if (this.ha.probe) {
      this.probe = new HaProbe({
        peer: this.ha.probe.peer, port: this.ha.probe.port, vrid: this.ha.routerId, key: this.probeKey(), intervalMs: this.probeMs,
        current: () => ({ role: this.role === 'unknown' ? 'unknown' : this.role, priority: effectivePriority(this.ha, this.healthy) }),
        onPeer: (m) => {
          this.peerSeen = { msg: m, at: Date.now() };
          this.evaluateSplit();
          this.evaluateResign();
        },
      });
      await this.probe.start();
      this.splitTimer = setInterval(() => {
        this.evaluateSplit();
        this.evaluateResign();
      }, this.probeMs);
      this.splitTimer.unref();
    }
  }

  /** A reload: new settings written, keepalived told with SIGHUP. */
  async update(next: HaConfig): Promise<void> {
    const probeChanged = JSON.stringify(next.probe) !== JSON.stringify(this.ha.probe);
    this.ha = { ...next, runtimeDir: this.ha.runtimeDir };
    this.writeConfig();
    this.writeTrack();
    this.proc.reload();
    this.emit({ kind: 'keepalived', what: 'reloaded' });
    if (probeChanged) this.log.warn({}, 'ha: probe settings change at the next restart');
  }

  /** The box's health: at least one tunnel up with its BGP session Established. */
  setHealthy(healthy: boolean): void {
    if (healthy === this.healthy || this.stopped) return;
    this.healthy = healthy;
    this.writeTrack();
    this.emit({ kind: 'health', healthy, priority: effectivePriority(this.ha, healthy) });
    this.evaluateResign();
  }

  /** Unhealthy while the peer is healthy (probe): hand the address over at once (keepalived-config.ts). */
  private evaluateResign(): void {
    const p = this.peerSeen;
    const peerHealthy = p !== undefined && Date.now() - p.at <= 3 * this.probeMs && p.msg.priority > 1 && p.msg.role !== 'fault';
    const resign = this.ha.preempt && !this.healthy && peerHealthy && !this.stopped;
    if (resign === this.resigned) return;
    this.resigned = resign;
    this.writeFile(this.paths.resignFile, resign ? '1\n' : '0\n');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.splitTimer) clearInterval(this.splitTimer);
    this.probe?.close();
    this.probe = undefined;
    await this.proc.stop();
    this.fifo.close();
    await this.dropAddresses();
    this.setRole('unknown', 0);
    // keepalived.conf holds the auth pass: nothing of ours stays behind.
    for (const f of [this.paths.config, this.paths.trackFile, `${this.paths.trackFile}.tmp`, this.paths.resignFile, `${this.paths.resignFile}.tmp`, this.paths.pid, this.paths.vrrpPid]) rmSync(f, { force: true });
    this.emit({ kind: 'keepalived', what: 'stopped' });
  }

  private probeKey(): Buffer {
    return Buffer.from(this.ha.authPassFile ? readAuthPass(this.ha.authPassFile) : 'branchgate-ha');
  }

  private writeConfig(): void {
    const pass = this.ha.authPassFile ? readAuthPass(this.ha.authPassFile) : undefined;
    const tmp = `${this.paths.config}.tmp`;
    writeFileSync(tmp, renderKeepalivedConfig(this.ha, this.paths, pass), { mode: 0o600 });
    renameSync(tmp, this.paths.config);
  }

  private writeTrack(): void {
    this.writeFile(this.paths.trackFile, this.healthy ? '0\n' : '1\n');
  }

  private writeFile(path: string, text: string): void {
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, path);
  }

  private async dropAddresses(): Promise<void> {
    const [cmd, ...pre] = [...this.wrap, 'ip'];
    for (const a of this.ha.virtualAddresses) {
      await run(cmd!, [...pre, 'addr', 'del', a, 'dev', this.ha.interface]).catch(() => undefined);
    }
  }

  private onNotify(l: NotifyLine): void {
    if (l.instance !== instanceName(this.ha.routerId)) return;
    const to: HaRole = l.state === 'MASTER' ? 'master' : l.state === 'BACKUP' ? 'backup' : l.state === 'FAULT' ? 'fault' : 'unknown';
    this.setRole(to, l.priority);
  }

  private setRole(to: HaRole, priority: number): void {
    if (to === this.role) return;
    const from = this.role;
    this.role = to;
    this.roleChanges++;
    this.emit({ kind: 'role', from, to, priority });
    this.evaluateSplit();
    this.probe?.send();
  }

  /**
   * Both masters for two probe intervals in a row: split brain. A preemption or failover makes
   * both boxes master for up to one advert interval, which must not raise an alarm.
   */
  private evaluateSplit(): void {
    const p = this.peerSeen;
    const now = Date.now();
    const fresh = p !== undefined && now - p.at <= 3 * this.probeMs;
    const both = this.role === 'master' && fresh && p.msg.role === 'master';
    if (!both) this.bothSince = undefined;
    else this.bothSince ??= now;
    const split = both && now - this.bothSince! >= 2 * this.probeMs;
    if (split === this.split) return;
    this.split = split;
    if (split) this.splitBrainEvents++;
    this.emit({ kind: 'split-brain', detected: split, peerRole: p?.msg.role ?? 'unknown' });
  }

  private emit(e: HaEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(e);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'ha: event listener threw');
      }
    }
  }
}
