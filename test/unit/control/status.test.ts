import { describe, expect, it } from 'vitest';
import type { ChildSaInfo, TunnelStatus } from '../../../src/ike/actions.js';
import { buildListSas, buildStatus, type ChildRuntime, type StatusInput } from '../../../src/control/status.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');

const child: ChildSaInfo = {
  tunnel: 'gsa-primary', spiIn: 0xc1f2aa01, spiOut: 0x0000bb02, encrId: 20, encrKeyBits: 256, integId: 0, esn: false,
  encr: 'AES_GCM_16_256', integ: null, localTs: ['0.0.0.0/0'], remoteTs: ['0.0.0.0/0'],
  local: { address: '192.0.2.10', port: 4500 }, remote: { address: '20.245.111.21', port: 4500 },
  encap: true, installedAt: T0, rekeyAt: T0 + 3_000_000,
};

const sample: TunnelStatus = {
  name: 'gsa-primary', state: 'established',
  local: { address: '192.0.2.10', port: 4500 }, remote: { address: '20.245.111.21', port: 4500 }, natDetected: false,
  ike: { spiI: '0123456789ABCDEF', spiR: 'fedcba98', initiator: true, encr: 'AES_GCM_16_256', integ: null,
    prf: 'PRF_HMAC_SHA2_384', dh: 'MODP_2048_256', establishedAt: T0, rekeyAt: T0 + 28_000_000 },
  children: [child],
};

const runtime: ChildRuntime = { bytesIn: 10, bytesOut: 20, packetsIn: 1, packetsOut: 2, replayDrops: 0, authFailures: 0, installedAt: T0 + 5 };

function input(over: Partial<StatusInput> = {}): StatusInput {
  return {
    version: '0.1.0', nativeFastPath: false, tunnels: [sample],
    routes: new Map([['gsa-primary', ['13.107.6.152/31']]]),
    installed: (t, spi) => (t === 'gsa-primary' && spi === child.spiIn ? runtime : undefined),
    ...over,
  };
}

const sorted = (o: object) => Object.keys(o).sort();

describe('status document', () => {
  it('has exactly the contract field names and types', () => {
    const doc = buildStatus(input());
    expect(sorted(doc)).toEqual(['nativeFastPath', 'tunnels', 'version']);
    expect(doc.version).toBe('0.1.0');
    expect(doc.nativeFastPath).toBe(false);
    const t = doc.tunnels[0]!;
    expect(sorted(t)).toEqual(['children', 'ike', 'local', 'name', 'natDetected', 'remote', 'routes', 'state']);
    expect(t).toMatchObject({ name: 'gsa-primary', state: 'established', local: '192.0.2.10:4500',
      remote: '20.245.111.21:4500', natDetected: false, routes: ['13.107.6.152/31'] });
    // AEAD: no integ key, as in the contract's example.
    expect(sorted(t.ike!)).toEqual(['dh', 'encr', 'establishedAt', 'prf', 'rekeyAt', 'spiI', 'spiR']);
    expect(t.ike).toEqual({ spiI: '0123456789abcdef', spiR: '00000000fedcba98', encr: 'AES_GCM_16_256',
      prf: 'PRF_HMAC_SHA2_384', dh: 'MODP_2048_256', establishedAt: '2026-01-01T00:00:00.000Z',
      rekeyAt: new Date(T0 + 28_000_000).toISOString() });
    const c = t.children[0]!;
    expect(sorted(c)).toEqual(['authFailures', 'bytesIn', 'bytesOut', 'encr', 'esn', 'packetsIn', 'packetsOut',
      'rekeyAt', 'replayDrops', 'spiIn', 'spiOut']);
    expect(c).toEqual({ spiIn: 'c1f2aa01', spiOut: '0000bb02', encr: 'AES_GCM_16_256', esn: false, bytesIn: 10,
      bytesOut: 20, packetsIn: 1, packetsOut: 2, replayDrops: 0, authFailures: 0,
      rekeyAt: new Date(T0 + 3_000_000).toISOString() });
    expect(JSON.stringify(doc)).not.toMatch(/"(keys?|psk|encrIn|encrOut|integIn|integOut)"/i);
  });

  it('includes integ for non-AEAD algorithms', () => {
    const t: TunnelStatus = { ...sample, ike: { ...sample.ike!, encr: 'AES_CBC_256', integ: 'HMAC_SHA2_384_192' },
      children: [{ ...child, encr: 'AES_CBC_256', integ: 'HMAC_SHA2_256_128' }] };
    const doc = buildStatus(input({ tunnels: [t] }));
    expect(doc.tunnels[0]!.ike!.integ).toBe('HMAC_SHA2_384_192');
    expect(doc.tunnels[0]!.children[0]!.integ).toBe('HMAC_SHA2_256_128');
  });

  it('reports connecting, not established, when no Child SA is installed', () => {
    const doc = buildStatus(input({ installed: () => undefined }));
    expect(doc.tunnels[0]!.state).toBe('connecting');
    expect(doc.tunnels[0]!.children[0]!.bytesIn).toBe(0);
  });

  it('shows a down tunnel with null endpoints and no IKE SA', () => {
    const down: TunnelStatus = { name: 'b', state: 'down', local: null, remote: null, natDetected: false, ike: null, children: [] };
    const doc = buildStatus(input({ tunnels: [down] }));
    expect(doc.tunnels[0]).toEqual({ name: 'b', state: 'down', local: null, remote: null, natDetected: false,
      ike: null, children: [], routes: [] });
  });

  it('adds bgp only when configured', () => {
    expect('bgp' in buildStatus(input())).toBe(false);
    const doc = buildStatus(input({ bgp: { asn: 65010, address: '10.1.0.1', advertise: [],
      neighbors: [{ address: '192.168.1.2', asn: 65476, tunnel: 'gsa-primary' }] } }));
    expect(doc.bgp).toEqual({ neighbors: [{ address: '192.168.1.2', state: 'Idle', received: 0, advertised: 0 }] });
  });

  it('list-sas adds initiator, selectors, encap and installedAt', () => {
    const udp = { ikeIn500: 1, ikeIn4500: 2, ikeOut: 3, natKeepalives: 0, natKeepalivesOut: 0, espDropped: 4, malformed: 0, handlerErrors: 0, sendErrors: 0, sendQueueFull: 0 };
    const doc = buildListSas(input(), udp);
    expect(doc.udp).toEqual(udp);
    const t = doc.tunnels[0]!;
    expect(t.ike!.initiator).toBe(true);
    expect(t.children[0]).toMatchObject({ spiIn: 'c1f2aa01', encap: true, localTs: ['0.0.0.0/0'],
      remoteTs: ['0.0.0.0/0'], installedAt: new Date(T0 + 5).toISOString(), bytesOut: 20 });
  });
});
