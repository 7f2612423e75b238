/**
 * The daemon: the one place that wires config, logger, UDP, the sans-IO IKE engine and the
 * control socket together, and owns the clock, the timer and the process signals.
 *
 * Every engine call goes through #run(): take `now`, call the engine, perform the actions it
 * returned, re-arm the single timer to engine.nextWakeup(). There is no periodic poll; an idle
 * daemon sleeps until the engine asks to be woken.
 */
import { readFileSync } from 'node:fs';
import type { DestinationStream } from 'pino';
import { IkeEngine } from './ike/engine.js';
import type { Action, ChildSaInfo, EngineEvent } from './ike/actions.js';
import type { Config, TunnelConfig } from './config/types.js';
import { formatIssue, parseConfig } from './config/load.js';
import { createLogger, logAction, tunnelLogger, type Logger } from './log.js';
import { resolveLocal, UdpTransport, type UdpPorts } from './net/udp.js';
import { ControlError, ControlServer } from './control/server.js';
import type { ControlRequest } from './control/protocol.js';
import { buildListSas, buildStatus, type ChildRuntime, type ListSasDocument, type StatusDocument } from './control/status.js';
import { nativeFastPath, packageVersion } from './version.js';
import { Datapath, kernelDatapath, type DatapathOptions } from './datapath.js';
import { createDaemonBgp, type DaemonBgp } from './bgp/daemon-bgp.js';

/** The engine surface the daemon uses; tests substitute a fake. */
export type EngineLike = Pick<IkeEngine, 'start' | 'onDatagram' | 'onTick' | 'nextWakeup' | 'up' | 'down' | 'status' | 'tunnelNames'>;

/** The config file is invalid or unreadable; `issues` are "FILE:LINE:COL: ..." lines (CLI exit 2). */
export class ConfigLoadError extends Error {
  constructor(readonly issues: string[]) {
    super(issues.join('\n'));
    this.name = 'ConfigLoadError';
  }
}

export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): { config: Config; warnings: string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code;
    throw new ConfigLoadError([`${path}: cannot read: ${why} — check the path and permissions`]);
  }
  const r = parseConfig(text, path, env);
  if (!r.ok) throw new ConfigLoadError(r.errors.map(formatIssue));
  return { config: r.config, warnings: r.warnings.map(formatIssue) };
}

export interface DaemonOptions {
  configPath: string;
  /** Overrides control.socket from the config. */
  socketPath?: string;
  logStream?: DestinationStream;
  ports?: UdpPorts;
  engineFactory?: (tunnels: TunnelConfig[]) => EngineLike;
  /** TUN devices + kernel routes by default; tests pass the in-memory twins. */
  datapath?: DatapathOptions;
  /** Install SIGINT/SIGTERM/SIGHUP handlers (default true; tests turn it off). */
  handleSignals?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface InstalledChild {
  info: ChildSaInfo;
  runtime: ChildRuntime;
}

export interface Daemon {
  readonly config: Config;
  readonly socketPath: string;
  readonly logger: Logger;
  readonly transport: UdpTransport;
  /** Resolves once stop() has finished (after a signal, or a direct call). */
  readonly closed: Promise<void>;
  status(): StatusDocument;
  listSas(): ListSasDocument;
  installed(): InstalledChild[];
  /** Event stream for `monitor` (later issue) and tests; returns an unsubscribe function. */
  subscribe(fn: (e: EngineEvent) => void): () => void;
  stop(): Promise<void>;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

class DaemonImpl implements Daemon {
  transport!: UdpTransport;
  datapath!: Datapath;
  control: ControlServer | undefined;
  bgp: DaemonBgp | null = null;
  readonly closed: Promise<void>;
  #resolveClosed!: () => void;
  #timer: NodeJS.Timeout | undefined;
  #timerAt: number | null = null;
  #pending = new Set<Promise<void>>();
  #children = new Map<string, InstalledChild>();
  #subscribers = new Set<(e: EngineEvent) => void>();
  #routes: Map<string, string[]>;
  #stopping: Promise<void> | undefined;
  #signals: [NodeJS.Signals, () => void][] = [];

  constructor(
    readonly config: Config,
    readonly socketPath: string,
    readonly logger: Logger,
    readonly engine: EngineLike,
  ) {
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    this.#routes = new Map(config.tunnels.map((t) => [t.name, t.routes]));
  }

  /** The one path into the engine: call, perform, re-arm. Engine exceptions propagate to the caller. */
  run(fn: (now: number) => Action[]): void {
    const now = Date.now();
    try {
      this.perform(fn(now), now);
    } finally {
      this.arm();
    }
  }

  perform(actions: Action[], now: number): void {
    for (const a of actions) {
      try {
        this.#performOne(a, now);
      } catch (err) {
        this.logger.error({ err, action: a.kind }, 'failed to perform engine action');
      }
    }
  }

  #performOne(a: Action, now: number): void {
    switch (a.kind) {
      case 'send': {
        const p = this.transport.send(a);
        this.#pending.add(p);
        void p.finally(() => this.#pending.delete(p));
        return;
      }
      case 'install-child':
        // The keys go to the Dataplane seam and nowhere else; the table keeps only the info.
        this.datapath.install(a);
        this.#children.set(`${a.child.tunnel}/${a.child.spiIn}`, { info: a.child, runtime: {
          bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, replayDrops: 0, authFailures: 0, installedAt: now } });
        return;
      case 'remove-child':
        this.#children.delete(`${a.tunnel}/${a.spiIn}`);
        this.datapath.remove(a.tunnel, a.spiIn);
        return;
      case 'event': {
        const { type, tunnel, ...rest } = a.event;
        tunnelLogger(this.logger, tunnel).info({ event: type, ...rest }, `event ${type}`);
        this.bgp?.onEngineEvent(a.event);
        for (const fn of this.#subscribers) {
          try {
            fn(a.event);
          } catch (err) {
            this.logger.warn({ err }, 'event subscriber failed');
          }
        }
        return;
      }
      case 'log':
        logAction(this.logger, a);
        return;
    }
  }

  arm(): void {
    if (this.#stopping) return;
    const at = this.engine.nextWakeup();
    if (at === this.#timerAt && this.#timer !== undefined) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === null) return;
    const delay = Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = null;
      try {
        this.run((now) => this.engine.onTick(now));
      } catch (err) {
        this.logger.error({ err }, 'engine tick failed');
      }
    }, delay);
  }

  #statusInput() {
    return {
      version: packageVersion(),
      nativeFastPath: nativeFastPath().loaded,
      tunnels: this.engine.status(Date.now()),
      routes: this.#routesNow(),
      ...(this.config.bgp !== undefined ? { bgp: this.config.bgp } : {}),
      ...(this.bgp ? { bgpNeighbors: this.bgp.neighbors() } : {}),
      installed: (tunnel: string, spiIn: number) => {
        const c = this.#children.get(`${tunnel}/${spiIn}`);
        if (!c) return undefined;
        const n = this.datapath.counters(spiIn);
        return n ? { ...c.runtime, ...n } : c.runtime;
      },
    };
  }

  /** Routes as installed in the kernel when we manage them, else as configured. */
  #routesNow(): Map<string, string[]> {
    const routes = new Map<string, string[]>();
    for (const [name, configured] of this.#routes) {
      routes.set(name, this.datapath.managesRoutes ? this.datapath.installedRoutes(name) : configured);
    }
    return routes;
  }

  status(): StatusDocument {
    return buildStatus(this.#statusInput());
  }

  listSas(): ListSasDocument {
    return buildListSas(this.#statusInput(), this.transport.counters);
  }

  installed(): InstalledChild[] {
    return [...this.#children.values()];
  }

  subscribe(fn: (e: EngineEvent) => void): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  handle(req: ControlRequest): unknown {
    switch (req.cmd) {
      case 'status':
        return this.status();
      case 'list-sas':
        return this.listSas();
      case 'version': {
        const nf = nativeFastPath();
        return { version: packageVersion(), nativeFastPath: nf.loaded, nativeFastPathReason: nf.reason };
      }
      case 'up':
      case 'down': {
        const name = req.args?.name ?? '';
        const names = this.engine.tunnelNames();
        if (!names.includes(name)) {
          throw new ControlError('unknown-tunnel',
            `no tunnel named '${name}'; configured: ${names.join(', ') || '(none)'} — see \`branchgate status\``);
        }
        const cmd = req.cmd;
        this.run((now) => (cmd === 'up' ? this.engine.up(name, now) : this.engine.down(name, now)));
        // The exchange continues in the background; report where the tunnel stands right now.
        const state = this.status().tunnels.find((t) => t.name === name)?.state ?? 'down';
        return { tunnel: name, requested: cmd, state };
      }
    }
  }

  installSignals(): void {
    let stopping = false;
    const onTerm = (signal: NodeJS.Signals) => (): void => {
      if (stopping) {
        this.logger.warn({ signal }, 'second signal during shutdown: exiting now');
        process.exit(1);
      }
      stopping = true;
      this.logger.info({ signal }, 'shutting down');
      void this.stop();
    };
    const onHup = (): void => this.logger.warn('SIGHUP: reload not implemented yet; restart branchgate to apply config changes');
    this.#signals = [['SIGINT', onTerm('SIGINT')], ['SIGTERM', onTerm('SIGTERM')], ['SIGHUP', onHup]];
    for (const [sig, fn] of this.#signals) process.on(sig, fn);
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const [sig, fn] of this.#signals) process.off(sig, fn);
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      for (const name of this.engine.tunnelNames()) {
        try {
          const now = Date.now();
          this.perform(this.engine.down(name, now), now);
        } catch (err) {
          this.logger.error({ err, tunnel: name }, 'engine failed to take the tunnel down');
        }
      }
      // Let the DELETE messages reach the kernel, but never hang shutdown on them.
      await Promise.race([Promise.all(this.#pending), new Promise((r) => setTimeout(r, 1000).unref())]);
      await this.bgp?.stop().catch((err: unknown) => this.logger.error({ err }, 'BGP shutdown failed'));
      await this.datapath?.stop().catch((err: unknown) => this.logger.error({ err }, 'datapath shutdown failed'));
      await this.transport?.close();
      await this.control?.close();
      this.logger.info('stopped');
      this.#resolveClosed();
    })();
    return this.#stopping;
  }
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { config, warnings } = loadConfig(opts.configPath, opts.env ?? process.env);
  const logger = createLogger({ level: config.log.level, ...(opts.logStream ? { stream: opts.logStream } : {}) });
  for (const w of warnings) logger.warn(`config: ${w}`);
  const { tunnels, bind } = await resolveLocal(config.tunnels, logger);
  // The datapath carries ESP only in UDP 4500, so the engine always asks peers to encapsulate.
  const engine = opts.engineFactory ? opts.engineFactory(tunnels) : new IkeEngine({ tunnels, udpEncapsulationOnly: true });
  const socketPath = opts.socketPath ?? config.control.socket;
  const d = new DaemonImpl(config, socketPath, logger, engine);
  d.transport = await UdpTransport.open({
    addresses: bind, logger, ...(opts.ports ? { ports: opts.ports } : {}),
    onIke: (bytes, arrival) => d.run((now) => engine.onDatagram(bytes, arrival, now)),
    onEsp: (bytes, arrival) => d.datapath?.receiveEsp(bytes, arrival.from),
  });
  try {
    d.datapath = new Datapath({ ...config, tunnels }, opts.datapath ?? kernelDatapath(), d.transport, logger);
    await d.datapath.start();
    d.bgp = createDaemonBgp({ ...config, tunnels }, logger);
    await d.bgp?.start();
    d.control = await ControlServer.listen({ path: socketPath, handle: (req) => d.handle(req), logger });
    d.run((now) => engine.start(now));
  } catch (err) {
    await d.stop();
    throw err;
  }
  if (opts.handleSignals !== false) d.installSignals();
  logger.info({ version: packageVersion(), tunnels: engine.tunnelNames(), socket: socketPath,
    udp: d.transport.endpoints() }, 'branchgate running');
  return d;
}
