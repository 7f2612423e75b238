/**
 * Status and events from real `show protocols all` replies (test/fixtures/bird/), and the GSA-like
 * peer config the lab and the interop test run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffEvents, neighborStatuses } from '../../../src/bgp/neighbor-state.js';
import { M365_PREFIXES, renderGsaPeerConfig } from '../../../src/bgp/gsa-peer.js';
import { ReplyReader } from '../../../src/bgp/reply.js';
import { parseProtocols } from '../../../src/bgp/show.js';

const FIX = join(import.meta.dirname, '../../fixtures/bird');
const protocols = (name: string) => parseProtocols(new ReplyReader().push(readFileSync(join(FIX, name), 'utf8'))[0]!);
const NEIGHBORS = [{ address: '100.64.0.2', asn: 65476, tunnel: 't1' }, { address: '100.64.0.3', asn: 65476, tunnel: 't2' }];
const allUp = { birdRunning: true, tunnelUp: () => true };

describe('neighbor status', () => {
  it('Established with counts; an unreachable neighbor is Active with BIRD\'s reason', () => {
    expect(neighborStatuses(NEIGHBORS, protocols('protocols-established.txt'), allUp)).toEqual([
      { address: '100.64.0.2', asn: 65476, tunnel: 't1', state: 'Established', received: 25, advertised: 1 },
      { address: '100.64.0.3', asn: 65476, tunnel: 't2', state: 'Active', received: 0, advertised: 0, info: 'Socket: Network is unreachable' },
    ]);
  });

  it('tunnel down, limit hit, BIRD not running, protocol missing', () => {
    const down = neighborStatuses(NEIGHBORS.slice(0, 1), protocols('protocols-disabled.txt'), { birdRunning: true, tunnelUp: () => false });
    expect(down[0]).toMatchObject({ state: 'Idle', info: 'tunnel t1 is down', received: 0 });
    const limit = neighborStatuses(NEIGHBORS.slice(0, 1), protocols('protocols-limit.txt'), allUp);
    expect(limit[0]).toMatchObject({ state: 'Idle', info: expect.stringMatching(/^import limit 40 hit: .*raise it and reload/) });
    expect(neighborStatuses(NEIGHBORS, [], { birdRunning: false, tunnelUp: () => true })[0]).toMatchObject({ state: 'Idle', info: 'BIRD is not running' });
    expect(neighborStatuses(NEIGHBORS, [], allUp)[1]).toMatchObject({ state: 'Idle', info: 'not (yet) configured in BIRD' });
  });

  it('events: state changes and a limit trip, once', () => {
    const a = neighborStatuses(NEIGHBORS, protocols('protocols-established.txt'), allUp);
    const b = neighborStatuses(NEIGHBORS.slice(0, 1), protocols('protocols-limit.txt'), allUp);
    const limits = new Map([['100.64.0.2', 40]]);
    expect(diffEvents([], a, limits)).toEqual([
      { kind: 'neighbor', address: '100.64.0.2', tunnel: 't1', from: 'Idle', to: 'Established' },
      { kind: 'neighbor', address: '100.64.0.3', tunnel: 't2', from: 'Idle', to: 'Active', info: 'Socket: Network is unreachable' },
    ]);
    expect(diffEvents(a, b, limits)).toEqual([
      { kind: 'neighbor', address: '100.64.0.2', tunnel: 't1', from: 'Established', to: 'Idle', info: expect.stringMatching(/^import limit/) },
      { kind: 'limit', address: '100.64.0.2', tunnel: 't1', limit: 40 },
    ]);
    expect(diffEvents(b, b, limits)).toEqual([]);
  });
});

describe('GSA-like peer config', () => {
  it('announces the Microsoft 365 set from ASN 65476 and parses in BIRD', () => {
    const text = renderGsaPeerConfig({ address: '100.64.0.2', cpeAddress: '100.64.0.1', cpeAsn: 65010, interface: 'cpe0', flood: ['100.96.0.0/24'] });
    expect(M365_PREFIXES).toHaveLength(25);
    for (const p of M365_PREFIXES) expect(text).toContain(`route ${p} blackhole;`);
    expect(text).toMatch(/local as 65476;\n\s+source address 100\.64\.0\.2;\n\s+neighbor 100\.64\.0\.1 as 65010;\n\s+multihop 255;/);
    expect(() => renderGsaPeerConfig({ address: '1.2.3.4"', cpeAddress: '100.64.0.1', cpeAsn: 1, interface: 'x' })).toThrow(/not an address/);
    const bird = ['/usr/sbin/bird', '/usr/bin/bird'].find((p) => existsSync(p));
    if (!bird) {
      if (process.env.CI === 'true') throw new Error('bird is not installed (apt-get install -y bird2)');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'bgt-peer-'));
    try {
      writeFileSync(join(dir, 'p.conf'), text);
      execFileSync(bird, ['-p', '-c', join(dir, 'p.conf')], { stdio: 'pipe' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
