/**
 * A scripted stand-in for IkeEngine implementing the daemon's EngineLike surface, so the
 * daemon's wiring (actions, timer, control socket) is what gets tested, not the IKE core.
 */
import type { DatapathOptions } from '../../../src/datapath.js';
import { TsDataplane } from '../../../src/dataplane/ts-dataplane.js';
import { MemoryTun } from '../../../src/dataplane/memory.js';
import type { Action, Arrival, ChildSaInfo, TunnelState, TunnelStatus } from '../../../src/ike/actions.js';
import type { TunnelConfig } from '../../../src/config/types.js';
import type { EngineLike } from '../../../src/daemon.js';

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

  onDatagram(bytes: Uint8Array, arrival: Arrival, _now: number): Action[] {
    if (this.throwOnDatagram) throw new Error('engine exploded');
    this.datagrams.push({ bytes: Uint8Array.from(bytes), arrival });
    // Echo back, the way a response leaves through the socket the request came in on.
    return [{ kind: 'send', from: arrival.to, to: arrival.from, natT: arrival.natT, bytes: Uint8Array.from([9, 9, 9, 9, ...bytes]) }];
  }

  onTick(_now: number): Action[] {
    this.ticks++;
    this.wakeAt = null;
    return [];
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
export function memoryDatapath(): DatapathOptions & { tuns: Map<string, MemoryTun> } {
  const tuns = new Map<string, MemoryTun>();
  return {
    tuns,
    routes: null,
    dataplane: (sender) => new TsDataplane({ openTun: (name, mtu) => { const t = new MemoryTun(name, mtu); tuns.set(name, t); return t; }, sender }),
  };
}
