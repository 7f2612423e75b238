/**
 * schema/status.schema.json against buildStatus: every document the builder makes is valid, and
 * the schema is strict enough to catch a renamed, missing or undocumented field.
 */
import { describe, expect, it } from 'vitest';
import type { ChildSaInfo, TunnelStatus } from '../../../src/ike/actions.js';
import { buildStatus, type StatusInput } from '../../../src/control/status.js';
import { statusSchemaProblems } from '../../helpers/status-schema.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const child: ChildSaInfo = {
  tunnel: 'a', spiIn: 0xc1f2aa01, spiOut: 0xbb02, encrId: 12, encrKeyBits: 256, integId: 12, esn: true,
  encr: 'AES_CBC_256', integ: 'HMAC_SHA2_256_128', localTs: ['0.0.0.0/0'], remoteTs: ['0.0.0.0/0'],
  local: { address: '192.0.2.10', port: 4500 }, remote: { address: '203.0.113.21', port: 4500 },
  encap: true, installedAt: T0, rekeyAt: T0 + 3_000_000,
};
const up: TunnelStatus = {
  name: 'a', state: 'established', local: child.local, remote: child.remote, natDetected: true,
  ike: { spiI: '0123456789abcdef', spiR: 'fedcba9876543210', initiator: true, encr: 'AES_CBC_256', integ: 'HMAC_SHA2_384_192',
    prf: 'PRF_HMAC_SHA2_384', dh: 'MODP_2048', establishedAt: T0, rekeyAt: 0 },
  children: [child],
};
const down: TunnelStatus = { name: 'b', state: 'down', local: null, remote: null, natDetected: false, ike: null, children: [] };

const input: StatusInput = {
  version: '0.3.0', nativeFastPath: true, tunnels: [up, down],
  routes: new Map([['a', ['198.51.100.0/24']]]),
  bgp: { asn: 65010, address: '100.64.1.1', advertise: [], neighbors: [{ address: '100.64.2.4', asn: 65476, tunnel: 'a' }] } as never,
  bgpNeighbors: [{ address: '100.64.2.4', state: 'Established', received: 25, advertised: 1 }],
  installed: () => ({ bytesIn: 1, bytesOut: 2, packetsIn: 3, packetsOut: 4, replayDrops: 0, authFailures: 0, installedAt: T0 }),
};

describe('schema/status.schema.json', () => {
  it('accepts what buildStatus makes: up and down tunnels, non-AEAD integ, unknown times, bgp', () => {
    const doc = buildStatus(input);
    expect(doc.tunnels[0]!.ike!.rekeyAt).toBeNull();
    expect(statusSchemaProblems(doc)).toEqual([]);
    expect(statusSchemaProblems(buildStatus({ ...input, bgp: undefined, bgpNeighbors: undefined, tunnels: [] }))).toEqual([]);
  });

  it('refuses an undocumented field, a missing one, a bad state and a malformed SPI', () => {
    const doc = JSON.parse(JSON.stringify(buildStatus(input))) as { tunnels: Record<string, unknown>[] };
    const t = doc.tunnels[0]!;
    t.extra = 1;
    delete t.natDetected;
    t.state = 'up';
    (t.children as { spiIn: string }[])[0]!.spiIn = 'xyz';
    const p = statusSchemaProblems(doc).join('\n');
    expect(p).toContain('/tunnels/0: must NOT have additional properties (extra)');
    expect(p).toContain("/tunnels/0: must have required property 'natDetected'");
    expect(p).toContain('/tunnels/0/state: must be equal to one of the allowed values');
    expect(p).toContain('/tunnels/0/children/0/spiIn: must match pattern');
  });
});
