/** preflight.ts: GSA's BGP address against the host's connected subnets (gsa.md §4.1 [S6]). */
import { describe, expect, it } from 'vitest';
import { connectedIssues, type HostAddress } from '../../../src/bgp/preflight.js';

const n = [{ address: '192.168.1.2', asn: 65476, tunnel: 'gsa' }];
const addr = (ifname: string, local: string, prefixlen: number): HostAddress => ({ ifname, local, prefixlen });

describe('connectedIssues', () => {
  it('nothing when the neighbor is outside every connected prefix', () => {
    expect(connectedIssues(n, [addr('eth0', '192.0.2.10', 24), addr('lo', '127.0.0.1', 8), addr('lan0', '172.16.0.1', 16)], new Set(['bg0']))).toEqual([]);
  });

  it('a warning naming the subnet and interface when it is inside a connected prefix', () => {
    const r = connectedIssues(n, [addr('lan1', '192.168.1.1', 24)], new Set(['bg0']));
    expect(r).toEqual([expect.objectContaining({ level: 'warn', neighbor: '192.168.1.2', ifname: 'lan1' })]);
    expect(r[0]!.message).toMatch(/inside 192\.168\.1\.0\/24, connected on lan1/);
  });

  it('an error when it is an address of this host; tunnel interfaces and /32s do not count', () => {
    expect(connectedIssues(n, [addr('eth0', '192.168.1.2', 24)], new Set())[0]).toMatchObject({ level: 'error', ifname: 'eth0' });
    expect(connectedIssues(n, [addr('bg0', '192.168.1.1', 30), addr('lo', '192.168.1.5', 32)], new Set(['bg0']))).toEqual([]);
  });
});
