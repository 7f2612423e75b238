/**
 * The daemon: the one place that wires config, logger, UDP, the sans-IO IKE engine and the
 * control socket together, and owns the clock, the timer and the process signals.
 *
 * Every engine call goes through #run(): take `now`, call the engine, perform the actions it
 * returned, re-arm the single timer to engine.nextWakeup(). An idle daemon sleeps until the
 * engine asks to be woken. The one periodic job is the Child SA counter poll (about once a
 * second, only while a Child SA is installed, unref'd): volume lifetimes (childLifetimeBytes /
 * childLifetimePackets) and inbound-ESP liveness for DPD (RFC 7296 §2.4) come from the datapath's
 * counters, which change per packet and so cannot be pushed to the engine.
 */
import type { DestinationStream } from 'pino';
import { IkeEngine } from './ike/engine.js';
import type { EngineApi } from './ike/engine-api.js';
import type { Action, ChildSaInfo, Endpoint, EngineEvent } from './ike/actions.js';
import type { Config, PrivilegesConfig, TunnelConfig } from './config/types.js';
import { ConfigLoadError, loadConfig } from './config-file.js';
import { notifierFromEnv, type Notifier } from './systemd/notify.js';
import type { ConfigLoadState } from './control/metrics-input.js';
import { createLogger, logAction, tunnelLogger, type Logger } from './log.js';
import { DEFAULT_PORTS, resolveLocal, UdpTransport, type UdpPorts } from './net/udp.js';
import { ControlError, ControlServer } from './control/server.js';
import type { ControlRequest, MonitorEvent } from './control/protocol.js';
import { buildListSas, buildStatus, spi32, type ChildRuntime, type ListSasDocument, type StatusDocument } from './control/status.js';
import { nativeFastPath, packageVersion } from './version.js';
import { Datapath, kernelDatapath, type DatapathOptions } from './datapath.js';
import type { DataplaneEvent } from './dataplane/types.js';
import { lastDataplaneChoice } from './dataplane/native-select.js';
import { createDaemonBgp, type DaemonBgp } from './bgp/daemon-bgp.js';
import { DaemonInternet } from './internet/daemon-internet.js';
import { createDaemonHa, type DaemonHa } from './ha/daemon-ha.js';
import { describeEvent } from './daemon-events.js';
import { ChildCounterPoll, type VolumeReason } from './child-poll.js';
import { startDaemonMetrics, type DaemonMetrics } from './control/daemon-metrics.js';
import { readUdpSocketDrops } from './control/udp-socket-drops.js';
import { renderInternetMetrics } from './control/metrics-internet.js';
import { applyReload, type ReloadResult } from './daemon-reload.js';
import { rekeyCommand } from './daemon-rekey.js';
import { WiresharkKeyWriter, wiresharkKeyPaths, wiresharkKeysWarning } from './debug/wireshark-keys.js';
import { wipeKeyExport, writeKeyExport } from './debug/key-export.js';
import type { Identity } from './native/privileges.js';
import {
  applyStay, applySwitch, planPrivileges, privilegeNeeds, PrivilegePlanError, unreadableHints,
} from './privileges/daemon-privileges.js';

export type { VolumeReason } from './child-poll.js';

/** The engine surface the daemon uses (src/ike/engine-api.ts); tests substitute a fake. */
export type EngineLike = EngineApi;

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
  /** Overrides the config's privileges: (`branchgate run --user USER[:GROUP]`). */
  privileges?: PrivilegesConfig;
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
  /** The engine's events, as they are performed; returns an unsubscribe function. */
  subscribe(fn: (e: EngineEvent) => void): () => void;
  /** What `branchgate monitor` streams: engine events and, with bgp:, BGP events, timestamped. */
  monitor(fn: (e: MonitorEvent) => void): () => void;
  stop(): Promise<void>;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

class DaemonImpl implements Daemon {
  transport!: UdpTransport;
  datapath!: Datapath;
  control: ControlServer | undefined;
  bgp: DaemonBgp | null = null;
  /** Traffic profiles, bypass and the IPv6 guard (null: nothing configured, or a test datapath). */
  internet: DaemonInternet | null = null;
  ha: DaemonHa | null = null;
  metrics: DaemonMetrics | null = null;
  /** The last config load (start, reload, SIGHUP), for branchgate_config_last_reload_successful. */
  configLoad: ConfigLoadState = { lastReloadSuccessful: true, lastSuccessAt: Date.now() };
  /** sd_notify when started by systemd with Type=notify (src/systemd/notify.ts). */
  systemd: Notifier | null = null;
  /** debug.wiresharkKeys: where export-keys actions are written (null: the export is off). */
  keyWriter: WiresharkKeyWriter | null = null;
  /** Where `reload` / SIGHUP re-read the config from. */
  configPath = '';
  env: NodeJS.ProcessEnv = process.env;
  #reloading: Promise<unknown> | undefined;
  readonly closed: Promise<void>;
  #resolveClosed!: () => void;
  #timer: NodeJS.Timeout | undefined;
  #timerAt: number | null = null;
  #pending = new Set<Promise<void>>();
  #children = new Map<string, InstalledChild>();
  #subscribers = new Set<(e: EngineEvent) => void>();
  /** Per tunnel: where the peer is now (install-child, update-remote); the config's address before that. */
  #remotes = new Map<string, Endpoint>();
  readonly #poll: ChildCounterPoll;
  #stopping: Promise<void> | undefined;
  #signals: [NodeJS.Signals, () => void][] = [];
  /** Set during stop() once the datapath is about to go: incoming IKE is dropped from then on. */
  ikeClosed = false;
  /** The user the daemon switched to at start (null: it runs as it was started). */
  switchedTo: Identity | null = null;
  /** privileges: as the file said at start; a reload that changes it needs a restart. */
  startPrivileges: PrivilegesConfig | undefined;

  constructor(
    public config: Config,
    readonly socketPath: string,
    readonly logger: Logger,
    readonly engine: EngineLike,
  ) {
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    this.#poll = new ChildCounterPoll({
      children: () => [...this.#children].map(([k, c]) => [k, { tunnel: c.info.tunnel, spiIn: c.info.spiIn }] as [string, { tunnel: string; spiIn: number }]),
      counters: (spiIn) => this.datapath.counters(spiIn),
      tunnel: (name) => this.#tunnelConfig(name),
      noteInboundEsp: (tunnel, now) => this.engine.noteInboundEsp(tunnel, now),
      volumeExceeded: (tunnel, spiIn, reason) => this.#volumeExceeded(tunnel, spiIn, reason),
      rearm: () => this.arm(),
      logger: this.logger,
    });
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
      case 'install-child': {
        // The keys go to the Dataplane seam and nowhere else; the table keeps only the info.
        this.datapath.install(a);
        const key = `${a.child.tunnel}/${a.child.spiIn}`;
        this.#children.set(key, { info: a.child, runtime: {
          bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, replayDrops: 0, authFailures: 0, installedAt: now } });
        this.#remotes.set(a.child.tunnel, { ...a.child.remote });
        if (!this.#stopping) this.#poll.added(key);
        return;
      }
      case 'activate-child':
        this.datapath.activate(a.spiIn);
        return;
      case 'remove-child': {
        const key = `${a.tunnel}/${a.spiIn}`;
        // Its last counters, so what a short-lived (rekeyed) Child SA carried is never lost.
        const n = this.#children.has(key) ? this.datapath.counters(a.spiIn) : null;
        if (n) {
          tunnelLogger(this.logger, a.tunnel).info({ spiIn: spi32(a.spiIn), spiOut: spi32(a.spiOut), ...n }, 'Child SA removed from the datapath');
          this.metrics?.childFinal(a.tunnel, a.spiIn, n);
        }
        this.#children.delete(key);
        this.#poll.removed(key, this.#children.size);
        this.datapath.remove(a.tunnel, a.spiIn);
        return;
      }
      case 'update-remote': {
        // RFC 7296 §2.23: the engine saw it on an authenticated message. ESP follows at once; the
        // engine sends IKE to the new endpoint itself. Our own records follow too.
        this.datapath.updateRemote(a.tunnel, a.remote);
        this.#remotes.set(a.tunnel, { ...a.remote });
        for (const c of this.#children.values()) {
          if (c.info.tunnel === a.tunnel) c.info = { ...c.info, remote: { ...a.remote } };
        }
        tunnelLogger(this.logger, a.tunnel).info({ peer: `${a.remote.address}:${a.remote.port}` }, 'ESP and IKE now go to the peer\'s new endpoint');
        return;
      }
      case 'keepalive': {
        const p = this.transport.sendKeepalive(a.from, a.to);
        this.#pending.add(p);
        void p.finally(() => this.#pending.delete(p));
        return;
      }
      case 'event': {
        const { type, tunnel, ...rest } = a.event;
        const d = describeEvent(a.event);
        const peer = this.#peer(tunnel);
        tunnelLogger(this.logger, tunnel)[d.level]({ event: type, ...rest, peer, ...(d.reason !== undefined ? { reason: d.reason } : {}) }, d.msg);
        this.bgp?.onEngineEvent(a.event);
        this.ha?.onEngineEvent(a.event);
        this.metrics?.onEngineEvent(a.event);
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
      case 'export-keys':
        // Only produced when debug.wiresharkKeys is set; the record is wiped either way.
        if (this.keyWriter) writeKeyExport(this.keyWriter, a.keys);
        else wipeKeyExport(a.keys);
        return;
    }
  }

  #peer(tunnel: string): string {
    const r = this.#remotes.get(tunnel);
    if (r) return `${r.address}:${r.port}`;
    return this.config.tunnels.find((t) => t.name === tunnel)?.remoteAddress ?? '?';
  }

  /** One pass of the Child SA counter poll (child-poll.ts). Public for tests. */
  pollCounters(): void {
    this.#poll.poll();
  }

  #volumeExceeded(tunnel: string, spiIn: number, reason: VolumeReason): void {
    const t = this.#tunnelConfig(tunnel);
    const limit = reason === 'bytes' ? `${t?.childLifetimeBytes} bytes` : reason === 'packets' ? `${t?.childLifetimePackets} packets` : 'the ESP sequence space';
    tunnelLogger(this.logger, tunnel).info({ spiIn: spi32(spiIn), reason }, `Child SA reached ${limit}: rekeying`);
    this.run((now) => this.engine.childVolumeExceeded(tunnel, spiIn, reason, now));
  }

  /** The datapath's own request (sequence numbers near exhaustion): the same path, once per SA. */
  onDataplaneEvent(e: DataplaneEvent): void {
    if (e.type !== 'rekey-needed') return;
    const key = `${e.tunnel}/${e.spiIn}`;
    this.#poll.seqExhausted(key, e.tunnel, e.spiIn, this.#children.has(key));
  }

  #tunnelConfig(name: string): TunnelConfig | undefined {
    return this.config.tunnels.find((t) => t.name === name);
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
      ...(this.ha ? { ha: this.ha.status() } : {}),
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
    for (const t of this.config.tunnels) {
      routes.set(t.name, this.datapath.managesRoutes ? this.datapath.installedRoutes(t.name) : t.routes);
    }
    return routes;
  }

  status(): StatusDocument {
    const doc = buildStatus(this.#statusInput());
    if (this.internet) doc.internet = this.internet.status();
    return doc;
  }

  listSas(): ListSasDocument {
    return buildListSas(this.#statusInput(), this.transport.counters, {
      dataplane: this.datapath.dropStats(), udpSockets: readUdpSocketDrops(), control: this.control?.counters(),
    });
  }

  installed(): InstalledChild[] {
    return [...this.#children.values()];
  }

  subscribe(fn: (e: EngineEvent) => void): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  monitor(fn: (e: MonitorEvent) => void): () => void {
    const offIke = this.subscribe((e) => fn({ time: new Date().toISOString(), source: 'ike', ...e, peer: this.#peer(e.tunnel) }));
    const offBgp = this.bgp?.onEvent((e) => {
      const { kind, ...rest } = e;
      fn({ time: new Date().toISOString(), source: 'bgp', type: `bgp-${kind}`, ...rest });
    });
    const offHa = this.ha?.onEvent((e) => {
      const { kind, ...rest } = e;
      fn({ time: new Date().toISOString(), source: 'ha', type: `ha-${kind}`, ...rest });
    });
    return () => {
      offIke();
      offBgp?.();
      offHa?.();
    };
  }

  #knownTunnel(name: string): string {
    const names = this.engine.tunnelNames();
    if (!names.includes(name)) {
      throw new ControlError('unknown-tunnel',
        `no tunnel named '${name}'; configured: ${names.join(', ') || '(none)'} — see \`branchgate status\``);
    }
    return name;
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
      case 'rekey':
        return rekeyCommand(this, this.#knownTunnel(req.args?.name ?? ''), req);
      case 'reload':
        return this.reload();
      case 'monitor':
        // Streaming: the control server subscribes through monitor(); this is never reached.
        throw new ControlError('bad-request', 'monitor is a subscription; the control server handles it');
      case 'up':
      case 'down': {
        const name = this.#knownTunnel(req.args?.name ?? '');
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
    const onHup = (): void => {
      this.logger.info('SIGHUP: reloading the config');
      this.reload().catch(() => undefined); // reload() logs what went wrong
    };
    this.#signals = [['SIGINT', onTerm('SIGINT')], ['SIGTERM', onTerm('SIGTERM')], ['SIGHUP', onHup]];
    for (const [sig, fn] of this.#signals) process.on(sig, fn);
  }

  /**
   * `reload` / SIGHUP: re-read the config file and apply it. A file that does not load changes
   * nothing (the errors are logged and returned). Tunnels whose config is equal by value keep
   * their SAs; changed ones are re-established, removed ones deleted, added ones started
   * (engine.reconfigure), and the datapath and BGP follow. Serialized: one reload at a time.
   */
  reload(): Promise<ReloadResult> {
    const run = () => applyReload(this).then(
      (r) => ((this.configLoad = { lastReloadSuccessful: true, lastSuccessAt: Date.now() }), r),
      (err: unknown) => {
        this.configLoad = { ...this.configLoad, lastReloadSuccessful: false };
        throw err;
      });
    const p = (this.#reloading ?? Promise.resolve()).catch(() => undefined).then(run);
    this.#reloading = p;
    return p;
  }

  /** debug.wiresharkKeys on, off or moved: the writer and the engine's export follow. */
  setKeyExport(c: Config): void {
    const dir = c.debug.wiresharkKeys;
    this.keyWriter = dir === undefined ? null : new WiresharkKeyWriter(wiresharkKeyPaths(dir));
    if (this.keyWriter) this.logger.warn(wiresharkKeysWarning(this.keyWriter.paths));
    this.engine.setExportKeys?.(this.keyWriter !== null);
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.systemd?.stopping();
      for (const [sig, fn] of this.#signals) process.off(sig, fn);
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#poll.stop();
      // First hand the LAN gateway to the peer (keepalived's priority-0 advert), then the tunnels.
      await this.ha?.stop().catch((err: unknown) => this.logger.error({ err }, 'HA shutdown failed'));
      for (const name of this.engine.tunnelNames()) {
        try {
          const now = Date.now();
          this.perform(this.engine.down(name, now), now);
        } catch (err) {
          this.logger.error({ err, tunnel: name }, 'engine failed to take the tunnel down');
        }
      }
      // Let the DELETE messages reach the kernel and the peer's answers remove the Child SAs,
      // but never hang shutdown on them (at most 1 s). After that, IKE is no longer read: an
      // answer arriving while the datapath removes the routes would re-apply them (the tunnel's
      // "down" routes: the underlay pin) after the cleanup, and outlive the daemon.
      const deadline = Date.now() + 1000;
      const drained = Promise.all(this.#pending).then(async () => {
        while (this.#children.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20).unref());
      });
      await Promise.race([drained, new Promise((r) => setTimeout(r, 1000).unref())]);
      this.ikeClosed = true;
      await this.bgp?.stop().catch((err: unknown) => this.logger.error({ err }, 'BGP shutdown failed'));
      await this.internet?.stop();
      await this.datapath?.stop().catch((err: unknown) => this.logger.error({ err }, 'datapath shutdown failed'));
      await this.transport?.close();
      await this.control?.close();
      await this.metrics?.close();
      this.logger.info('stopped');
      this.#resolveClosed();
    })();
    return this.#stopping;
  }
}

/** Once switched: would a reload still read the config and pskFiles? Warn now if not. */
function checkReloadable(d: DaemonImpl, id: Identity): void {
  try {
    loadConfig(d.configPath, d.env);
  } catch (err) {
    const issues = err instanceof ConfigLoadError ? err.issues : [String(err)];
    d.logger.warn({ errors: [...issues, ...unreadableHints(issues, id)] }, `as ${id.user} the config no longer loads, so \`branchgate reload\` and SIGHUP will fail until that is fixed`);
  }
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { config, warnings } = loadConfig(opts.configPath, opts.env ?? process.env);
  const logger = createLogger({ level: config.log.level, ...(opts.logStream ? { stream: opts.logStream } : {}) });
  for (const w of warnings) logger.warn(`config: ${w}`);
  const socketPath = opts.socketPath ?? config.control.socket;
  // Least privilege (src/privileges/): decided before anything is opened, applied after setup.
  let plan;
  try {
    plan = planPrivileges({ privileges: opts.privileges ?? config.privileges, source: opts.privileges ? '--user' : 'privileges',
      config, socketPath, needs: privilegeNeeds(config, opts.datapath === undefined, opts.ports ?? DEFAULT_PORTS) });
  } catch (err) {
    if (err instanceof PrivilegePlanError && err.config) throw new ConfigLoadError([`${opts.configPath}: ${err.message}`]);
    throw err;
  }
  if (plan.kind === 'stay') applyStay(plan, logger);
  const { tunnels, bind } = await resolveLocal(config.tunnels, logger);
  // The datapath carries ESP only in UDP 4500, so the engine always asks peers to encapsulate.
  const engine = opts.engineFactory ? opts.engineFactory(tunnels) : new IkeEngine({ tunnels, udpEncapsulationOnly: true, limits: config.limits });
  const d = new DaemonImpl({ ...config, tunnels }, socketPath, logger, engine);
  d.configPath = opts.configPath;
  d.env = opts.env ?? process.env;
  d.startPrivileges = config.privileges;
  if (config.debug.wiresharkKeys !== undefined) d.setKeyExport(config);
  d.transport = await UdpTransport.open({
    addresses: bind, logger, ...(opts.ports ? { ports: opts.ports } : {}),
    onIke: (bytes, arrival) => {
      if (!d.ikeClosed) d.run((now) => engine.onDatagram(bytes, arrival, now));
    },
    onEsp: (bytes, arrival) => d.datapath?.receiveEsp(bytes, arrival.from),
  });
  try {
    d.datapath = new Datapath({ ...config, tunnels }, opts.datapath ?? kernelDatapath(), d.transport, logger);
    d.datapath.onEvent((e) => d.onDataplaneEvent(e));
    await d.datapath.start();
    // IkeEngine counts dropped datagrams by reason; test engines may not.
    d.metrics = await startDaemonMetrics(config.control.metrics, {
      status: () => d.status(), listSas: () => d.listSas(), ikeDrops: () => engine.drops, ikeHalfOpen: () => engine.halfOpenCount,
      extraText: () => (d.internet ? renderInternetMetrics(d.internet.status()) : ''),
      ...(config.ha ? { ha: () => d.ha?.status() } : {}),
      configLoad: () => d.configLoad,
    }, logger);
    d.control = await ControlServer.listen({ path: socketPath, handle: (req) => d.handle(req), subscribe: (fn) => d.monitor(fn), logger });
    if (plan.kind === 'switch') {
      applySwitch(plan, logger);
      d.switchedTo = plan.id;
      checkReloadable(d, plan.id);
    }
    // Bypass routes, name-server pins, GSA's policy rules and the IPv6 guard: after the datapath
    // (whose start installs the endpoint pins), before BIRD fills GSA's table.
    if (opts.datapath === undefined && DaemonInternet.needed(config)) {
      d.internet = new DaemonInternet({ ...config, tunnels }, logger.child({ component: 'internet' }));
      await d.internet.start();
    }
    // BIRD starts after the switch, so it never runs as root and its control socket (0660, its
    // own user's) stays reachable by the daemon; every restart then runs the same way.
    d.bgp = createDaemonBgp({ ...config, tunnels }, logger);
    await d.bgp?.start();
    // keepalived too starts after the switch; it needs CAP_NET_RAW for VRRP (docs/ha.md "Privileges").
    d.ha = createDaemonHa({ ...config, tunnels }, logger, d.bgp);
    await d.ha?.start();
    d.run((now) => engine.start(now));
  } catch (err) {
    await d.stop();
    throw err;
  }
  if (opts.handleSignals !== false) d.installSignals();
  const dp = opts.datapath ? null : lastDataplaneChoice();
  logger.info({ version: packageVersion(), tunnels: engine.tunnelNames(), socket: socketPath,
    udp: d.transport.endpoints(), ...(dp ? { dataplane: dp.kind, dataplaneReason: dp.reason } : {}) }, 'branchgate running');
  // Sockets, TUN devices and the config are applied: tell systemd (Type=notify) we are ready.
  d.systemd = notifierFromEnv(d.env, () => d.status(), (err) => logger.warn({ err }, 'systemd notification failed'));
  d.systemd?.ready();
  return d;
}
