/**
 * daemon-bgp.ts: the engine's events → BgpSupervisor.setTunnelState, with the supervisor mocked.
 * A tunnel is up for BGP while it has an installed Child SA; rekeys never take it down; a dead
 * peer (dpd-dead) takes it down at once.
 */
import { describe, expect, it, vi } from 'vitest';

const calls: [string, string][] = [];
const updates: unknown[] = [];
const listeners: ((e: unknown) => void)[] = [];
vi.mock('../../../src/bgp/supervisor.js', () => ({
  BgpSupervisor: class {
    setTunnelState(t: string, s: string) {
      calls.push([t, s]);
      return Promise.resolve();
    }
    start() { return Promise.resolve(); }
    update(next: unknown) {
      updates.push(next);
      return Promise.resolve();
    }
    stop() { return Promise.resolve(); }
    status() { return { running: true, neighbors: [{ address: '100.64.0.2', state: 'Established', received: 3, advertised: 1, tunnel: 't1' }] }; }
    onEvent(fn: (e: unknown) => void) {
      listeners.push(fn);
      return () => undefined;
    }
  },
}));

const { createDaemonBgp } = await import('../../../src/bgp/daemon-bgp.js');

const logged: string[] = [];
const logger = { child: () => logger, error: () => undefined, info: (_o: unknown, m: string) => logged.push(m), warn: (_o: unknown, m: string) => logged.push(m), debug: () => undefined } as never;
const config = {
  log: { level: 'info' }, control: { socket: '/tmp/x.sock' }, routing: { failMode: 'open', pinUnderlay: true },
  tunnels: [{ name: 't1', interface: 'bg0', remoteAddress: '198.51.100.2' }],
  bgp: { asn: 65010, address: '100.64.0.1', advertise: [], neighbors: [{ address: '100.64.0.2', asn: 65476, tunnel: 't1' }] },
} as never;

describe('createDaemonBgp', () => {
  it('is null without a bgp: section', () => {
    expect(createDaemonBgp({ ...(config as object), bgp: undefined } as never, logger)).toBeNull();
  });

  it('follows Child SAs: up on the first, down on the last; rekeys keep it up; dpd-dead and ike-down take it down', () => {
    calls.length = 0;
    const b = createDaemonBgp(config, logger)!;
    b.onEngineEvent({ type: 'ike-up', tunnel: 't1', spiI: 'a', spiR: 'b' });
    expect(calls).toEqual([]);
    b.onEngineEvent({ type: 'child-up', tunnel: 't1', spiIn: '01', spiOut: '02' });
    expect(calls).toEqual([['t1', 'up']]);
    // rekey: the old SA's child-down after child-rekeyed must not drop the tunnel
    b.onEngineEvent({ type: 'child-rekeyed', tunnel: 't1', oldSpiIn: '01', spiIn: '03', spiOut: '04', initiator: true });
    b.onEngineEvent({ type: 'child-down', tunnel: 't1', spiIn: '01', reason: 'rekeyed' });
    expect(calls).toEqual([['t1', 'up']]);
    b.onEngineEvent({ type: 'dpd-dead', tunnel: 't1', silentMs: 3000 });
    expect(calls).toEqual([['t1', 'up'], ['t1', 'down']]);
    b.onEngineEvent({ type: 'ike-down', tunnel: 't1', reason: 'dead peer' });
    expect(calls).toHaveLength(2);
    b.onEngineEvent({ type: 'child-up', tunnel: 't1', spiIn: '05', spiOut: '06' });
    b.onEngineEvent({ type: 'ike-down', tunnel: 't1', reason: 'deleted' });
    expect(calls).toEqual([['t1', 'up'], ['t1', 'down'], ['t1', 'up'], ['t1', 'down']]);
  });

  it('update() hands the reloaded bgp:, tunnels and failMode to the supervisor', async () => {
    const b = createDaemonBgp(config, logger)!;
    const next = { ...(config as object), routing: { failMode: 'closed', pinUnderlay: true } } as never;
    await b.update(next);
    expect(updates).toEqual([{ bgp: (config as { bgp: unknown }).bgp, tunnels: [{ name: 't1', interface: 'bg0', remoteAddress: '198.51.100.2' }], failMode: 'closed' }]);
    await expect(b.update({ ...(config as object), bgp: undefined } as never)).rejects.toThrow(/no bgp: section/);
  });

  it('logs session changes and limit trips', () => {
    listeners.length = 0;
    logged.length = 0;
    createDaemonBgp(config, logger);
    listeners[0]!({ kind: 'neighbor', address: '100.64.0.2', tunnel: 't1', from: 'Connect', to: 'Established' });
    listeners[0]!({ kind: 'limit', address: '100.64.0.2', tunnel: 't1', limit: 40 });
    listeners[0]!({ kind: 'bird', what: 'reconfigured' });
    expect(logged).toEqual(['bgp: neighbor 100.64.0.2 Connect → Established', 'bgp: neighbor 100.64.0.2 sent more than 40 prefixes; session disabled until a reload']);
  });

  it('shows the supervisor\'s neighbors in the status shape', () => {
    const b = createDaemonBgp(config, logger)!;
    expect(b.neighbors()).toEqual([{ address: '100.64.0.2', state: 'Established', received: 3, advertised: 1 }]);
  });
});
