/**
 * A scripted stand-in for IkeEngine implementing the daemon's EngineLike surface, so the
 * daemon's wiring (actions, timer, control socket) is what gets tested, not the IKE core.
 */
import type { DatapathOptions } from '../../../src/datapath.js';
import { TsDataplane } from '../../../src/dataplane/ts-dataplane.js';
import { MemoryTun } from '../../../src/dataplane/memory.js';
import type { Action, Arrival, ChildSaInfo, TunnelState, TunnelStatus } from '../../../src/ike/actions.js';
import type { TunnelConfig } from '../../../src/config/types.js';
import { startDaemon, type Daemon, type EngineLike } from '../../../src/daemon.js';

export class FakeEngine implements EngineLike {
  calls: string[] = [];
  datagrams: { bytes: Uint8Array; arrival: Arrival }[] = [];
  wakeAt: number | null = null;
  ticks = 0;
  states = new Map<string, TunnelState>();
  children = new Map<string, ChildSaInfo>();
  /** Set to make the next onDatagram throw (hostile input the engine chokes on). */
  throwOnDatagram = false;

  constructor(readonly tunnels: TunnelConfig[]) {
    for (const t of tunnels) this.states.set(t.name, 'down');
  }

  start(now: number): Action[] {
    this.calls.push('start');
    return [{ kind: 'log', level: 'info', msg: 'fake engine started', fields: { now } }];
  }

  /** Records the new tunnel list (names only) and adopts it; the real engine is tested in test/exchange. */
  reconfigure(tunnels: TunnelConfig[], _now: number): Action[] {
    this.calls.push(`reconfigure ${tunnels.map((t) => t.name).join(',')}`);
    for (const t of tunnels) if (!this.states.has(t.name)) this.states.set(t.name, 'down');
    return [];
  }

  onDatagram(bytes: Uint8Array, arrival: Arrival, _now: number): Action[] {
    if (this.throwOnDatagram) throw new Error('engine exploded');
    this.datagrams.push({ bytes: Uint8Array.from(bytes), arrival });
    // Echo back, the way a response leaves through the socket the request came in on.
    return [{ kind: 'send', from: arrival.to, to: arrival.from, natT: arrival.natT, bytes: Uint8Array.from([9, 9, 9, 9, ...bytes]) }];
  }

  /** Actions the next onTick returns (set wakeAt to have the daemon's timer fire it). */
  next: Action[] = [];

  onTick(_now: number): Action[] {
    this.ticks++;
    this.wakeAt = null;
    return this.next.splice(0);
  }

  nextWakeup(): number | null {
    return this.wakeAt;
  }

  up(name: string, now: number): Action[] {
    this.calls.push(`up ${name}`);
    this.states.set(name, 'established');
    const t = this.tunnels.find((x) => x.name === name)!;
    const child: ChildSaInfo = {
      tunnel: name, spiIn: 0xc0ffee01, spiOut: 0xbeef0002, encrId: 20, encrKeyBits: 256, integId: 0, esn: false,
      encr: 'AES_GCM_16_256', integ: null, localTs: ['0.0.0.0/0'], remoteTs: ['0.0.0.0/0'],
      local: { address: t.localAddress ?? '0.0.0.0', port: 4500 }, remote: { address: t.remoteAddress, port: 4500 },
      encap: true, installedAt: now, rekeyAt: now + 3_600_000,
    };
    this.children.set(name, child);
    // AES-GCM-256 key plus the 4-octet salt (RFC 4106 §8.1).
    const key = new Uint8Array(36).fill(0x5a);
    const any = { tsType: 7, ipProtocol: 0, startPort: 0, endPort: 65535, startAddr: new Uint8Array(4), endAddr: new Uint8Array(4).fill(255) };
    return [
      { kind: 'install-child', child, keys: { encrIn: key, encrOut: key, integIn: new Uint8Array(), integOut: new Uint8Array() },
        selectors: { local: [any], remote: [any] } },
      { kind: 'event', event: { type: 'child-up', tunnel: name, spiIn: 'c0ffee01', spiOut: 'beef0002' } },
    ];
  }

  down(name: string, _now: number): Action[] {
    this.calls.push(`down ${name}`);
    this.states.set(name, 'down');
    const c = this.children.get(name);
    this.children.delete(name);
    if (!c) return [];
    return [
      { kind: 'remove-child', tunnel: name, spiIn: c.spiIn, spiOut: c.spiOut },
      { kind: 'event', event: { type: 'child-down', tunnel: name, spiIn: 'c0ffee01', reason: 'operator' } },
    ];
  }

  /** Operator rekeys, volume-lifetime calls and inbound-ESP notes, in order. */
  rekeys: string[] = [];
  volume: { tunnel: string; spiIn: number; reason: string }[] = [];
  inbound: string[] = [];
  /** The rekey answer: by default a Child SA rekey that completes at once (new SPI +1). */
  onRekey: ((name: string, what: 'child' | 'ike', now: number) => Action[]) | null = null;

  rekey(name: string, what: 'child' | 'ike', now: number): Action[] {
    this.rekeys.push(`${what} ${name}`);
    if (this.onRekey) return this.onRekey(name, what, now);
    const old = this.children.get(name);
    if (!old) return [];
    if (what === 'ike') {
      return [{ kind: 'event', event: { type: 'ike-rekeyed', tunnel: name, oldSpiI: '0123456789abcdef', oldSpiR: 'fedcba9876543210',
        spiI: '1111111111111111', spiR: '2222222222222222', initiator: true } }];
    }
    const child: ChildSaInfo = { ...old, spiIn: old.spiIn + 1, spiOut: old.spiOut + 1, installedAt: now };
    this.children.set(name, child);
    const key = new Uint8Array(36).fill(0x5b);
    const any = { tsType: 7, ipProtocol: 0, startPort: 0, endPort: 65535, startAddr: new Uint8Array(4), endAddr: new Uint8Array(4).fill(255) };
    const hex = (n: number) => n.toString(16).padStart(8, '0');
    return [
      { kind: 'install-child', child, keys: { encrIn: key, encrOut: key, integIn: new Uint8Array(), integOut: new Uint8Array() },
        selectors: { local: [any], remote: [any] } },
      { kind: 'remove-child', tunnel: name, spiIn: old.spiIn, spiOut: old.spiOut },
      { kind: 'event', event: { type: 'child-rekeyed', tunnel: name, oldSpiIn: hex(old.spiIn), spiIn: hex(child.spiIn), spiOut: hex(child.spiOut), initiator: true } },
    ];
  }

  childVolumeExceeded(tunnel: string, spiIn: number, reason: 'bytes' | 'packets' | 'seq-exhausted', _now: number): Action[] {
    this.volume.push({ tunnel, spiIn, reason });
    return [];
  }

  noteInboundEsp(tunnel: string, _now: number): void {
    this.inbound.push(tunnel);
  }

  status(now: number): TunnelStatus[] {
    return this.tunnels.map((t) => {
      const c = this.children.get(t.name);
      return {
        name: t.name, state: this.states.get(t.name) ?? 'down',
        local: c ? c.local : null, remote: c ? c.remote : null, natDetected: false,
        ike: c ? { spiI: '0123456789abcdef', spiR: 'fedcba9876543210', initiator: true, encr: 'AES_GCM_16_256', integ: null,
          prf: 'PRF_HMAC_SHA2_384', dh: 'MODP_2048_256', establishedAt: now - 1000, rekeyAt: now + 28_000_000 } : null,
        children: c ? [c] : [],
      };
    });
  }

  tunnelNames(): string[] {
    return this.tunnels.map((t) => t.name);
  }
}

export const CONFIG_YAML = `log:
  level: info
tunnels:
  - name: t1
    localAddress: 127.0.0.1
    remoteAddress: 127.0.0.2
    psk: "correct horse battery staple"
    profile: gsa-default
    routes: [10.0.0.0/8]
`;

/** Collects pino JSON lines. */
export class LineSink {
  lines: string[] = [];
  write(s: string): void {
    for (const l of s.split('\n')) if (l) this.lines.push(l);
  }
  records(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

/** The datapath twins: MemoryTun devices and no kernel routes, so unit tests touch no host state. */
export function memoryDatapath(routes: DatapathOptions['routes'] = null): DatapathOptions & { tuns: Map<string, MemoryTun>; dataplanes: TsDataplane[] } {
  const tuns = new Map<string, MemoryTun>();
  const dataplanes: TsDataplane[] = [];
  return {
    tuns,
    dataplanes,
    routes,
    dataplane: (sender) => {
      const dp = new TsDataplane({ openTun: (name, mtu) => { const t = new MemoryTun(name, mtu); tuns.set(name, t); return t; }, sender });
      dataplanes.push(dp);
      return dp;
    },
  };
}

/** A RouteLike that only records what the daemon asked for (tunnel name and state, in order). */
export class RecordingRoutes {
  calls: string[] = [];
  async setTunnel(t: { name: string }, state: 'up' | 'down'): Promise<void> {
    this.calls.push(`${t.name} ${state}`);
  }
  async removeTunnel(name: string): Promise<void> {
    this.calls.push(`${name} removed`);
  }
  async cleanup(): Promise<void> {}
  installed(_name: string): string[] {
    return [];
  }
}

/**
 * A daemon as the CLI tests need it: ephemeral UDP ports, no signal handlers, the in-memory
 * datapath and a FakeEngine. `engine()` is the fake the daemon made (after start).
 */
export async function startFakeDaemon(configPath: string, socketPath?: string): Promise<{ d: Daemon; engine: () => FakeEngine }> {
  let e: FakeEngine | undefined;
  const d = await startDaemon({ configPath, ...(socketPath === undefined ? {} : { socketPath }), logStream: new LineSink(),
    ports: { ike: 0, natT: 0 }, handleSignals: false, engineFactory: (t) => (e = new FakeEngine(t)), datapath: memoryDatapath() });
  return { d, engine: () => e! };
}
