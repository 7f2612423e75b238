import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../../src/config/cidr.js';
import { normaliseDst, parseKernelRoutes, routeArgs, type KernelRoute } from '../../../src/routing/ip.js';
import {
  describeRoute,
  expandPrefixes,
  matchesKernel,
  mergePlans,
  pickUnderlay,
  planRoutes,
  prefixContains,
  type TunnelRouting,
  type Underlay,
} from '../../../src/routing/plan.js';

const UNDERLAY: Underlay = { dev: 'eth0', gateway: '192.0.2.254' };

function tunnel(over: Partial<TunnelRouting> = {}): TunnelRouting {
  return { name: 't1', interface: 'bg0', routes: ['198.51.100.0/25'], remote: '203.0.113.5', failMode: 'open', pinUnderlay: true, ...over };
}

const shape = (rs: { kind: string; dst: string; type: string; dev?: string; gateway?: string }[]) =>
  rs.map((r) => `${r.kind} ${describeRoute({ dst: r.dst, type: r.type === 'blackhole' ? 'blackhole' : 'unicast', dev: r.dev, gateway: r.gateway })}`);

describe('planRoutes', () => {
  it('steers the selected prefixes into the tunnel interface, pin first', () => {
    const p = planRoutes(tunnel({ routes: ['198.51.100.0/25', '100.64.0.0/10'] }), 'up', UNDERLAY);
    expect(shape(p.routes)).toEqual([
      'pin 203.0.113.5/32 via 192.0.2.254 dev eth0',
      'tunnel 198.51.100.0/25 dev bg0',
      'tunnel 100.64.0.0/10 dev bg0',
    ]);
    expect(p.problems).toEqual([]);
  });

  it('installs a full tunnel as the two /1 halves, leaving the default route alone, and keeps the pin', () => {
    const p = planRoutes(tunnel({ routes: ['0.0.0.0/0'] }), 'up', UNDERLAY);
    expect(shape(p.routes)).toEqual([
      'pin 203.0.113.5/32 via 192.0.2.254 dev eth0',
      'tunnel 0.0.0.0/1 dev bg0',
      'tunnel 128.0.0.0/1 dev bg0',
    ]);
    expect(p.routes.some((r) => r.dst === '0.0.0.0/0')).toBe(false);
    expect(p.problems).toEqual([]);
  });

  it('pins an on-link endpoint by device only, and keeps the onlink flag', () => {
    expect(shape(planRoutes(tunnel(), 'up', { dev: 'eth0' }).routes)[0]).toBe('pin 203.0.113.5/32 dev eth0');
    expect(planRoutes(tunnel(), 'up', { dev: 'eth0', gateway: '198.51.100.1', onlink: true }).routes[0]?.onlink).toBe(true);
  });

  it('fail closed: blackholes the prefixes while down, pin stays', () => {
    const p = planRoutes(tunnel({ routes: ['198.51.100.0/25', '0.0.0.0/0'], failMode: 'closed' }), 'down', UNDERLAY);
    expect(shape(p.routes)).toEqual([
      'pin 203.0.113.5/32 via 192.0.2.254 dev eth0',
      'blackhole blackhole 198.51.100.0/25',
      'blackhole blackhole 0.0.0.0/1',
      'blackhole blackhole 128.0.0.0/1',
    ]);
  });

  it('fail open: no route for the prefixes while down, pin stays', () => {
    const p = planRoutes(tunnel({ routes: ['198.51.100.0/25', '0.0.0.0/0'] }), 'down', UNDERLAY);
    expect(shape(p.routes)).toEqual(['pin 203.0.113.5/32 via 192.0.2.254 dev eth0']);
  });

  it('without pinUnderlay: no pin, and a warning when a prefix would capture the outer packets', () => {
    const p = planRoutes(tunnel({ routes: ['0.0.0.0/0'], pinUnderlay: false }), 'up', UNDERLAY);
    expect(shape(p.routes)).toEqual(['tunnel 0.0.0.0/1 dev bg0', 'tunnel 128.0.0.0/1 dev bg0']);
    expect(p.problems).toHaveLength(1);
    expect(p.problems[0]).toMatch(/128\.0\.0\.0\/1 contains the remote endpoint 203\.0\.113\.5 and pinUnderlay is false/);
  });

  it('with an unresolvable underlay, leaves out the prefixes that contain the endpoint but keeps the others', () => {
    const p = planRoutes(tunnel({ routes: ['0.0.0.0/0', '203.0.113.0/24', '198.51.100.0/25'], failMode: 'closed' }), 'down', undefined);
    expect(shape(p.routes)).toEqual(['blackhole blackhole 0.0.0.0/1', 'blackhole blackhole 198.51.100.0/25']);
    expect(p.problems.join('\n')).toMatch(/no underlay pin for 203\.0\.113\.5/);
    expect(p.problems.join('\n')).toMatch(/128\.0\.0\.0\/1 left out/);
    expect(p.problems.join('\n')).toMatch(/203\.0\.113\.0\/24 left out/);
  });

  it('the endpoint itself as a /32 route is taken by the pin', () => {
    const p = planRoutes(tunnel({ routes: ['203.0.113.5/32', '203.0.113.5'] }), 'up', UNDERLAY);
    expect(shape(p.routes)).toEqual(['pin 203.0.113.5/32 via 192.0.2.254 dev eth0']);
    expect(p.problems[0]).toMatch(/is the remote endpoint itself/);
  });

  it('a responder (%any) gets no pin and says why', () => {
    const p = planRoutes(tunnel({ remote: '%any' }), 'up', undefined);
    expect(shape(p.routes)).toEqual(['tunnel 198.51.100.0/25 dev bg0']);
    expect(p.problems[0]).toMatch(/%any/);
    expect(p.remote).toBeUndefined();
  });

  it('overlapping and duplicate prefixes: duplicates once, overlaps all kept (longest match decides)', () => {
    const { prefixes } = expandPrefixes(['100.64.0.0/10', '100.64.1.0/24', '100.64.0.0/10', '0.0.0.0/0', '0.0.0.0/1', '198.51.100.7']);
    expect(prefixes.map((c) => `${c.address.join('.')}/${c.prefix}`)).toEqual([
      '100.64.0.0/10',
      '100.64.1.0/24',
      '0.0.0.0/1',
      '128.0.0.0/1',
      '198.51.100.7/32',
    ]);
  });

  it('is total: bad prefixes (rejected earlier by config) are reported and skipped, never thrown', () => {
    const p = planRoutes(tunnel({ routes: ['10.0.0.1/8', 'nonsense', '300.1.1.1/32', '198.51.100.0/33', ''] }), 'up', UNDERLAY);
    expect(shape(p.routes)).toEqual(['pin 203.0.113.5/32 via 192.0.2.254 dev eth0']);
    expect(p.problems).toHaveLength(5);
  });

  it('property: any input plans without throwing and obeys the rules', () => {
    const octet = fc.integer({ min: 0, max: 255 });
    const addr = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
    const route = fc.oneof(
      fc.tuple(addr, fc.integer({ min: 0, max: 32 })).map(([a, l]) => `${a}/${l}`),
      addr,
      fc.constant('0.0.0.0/0'),
      fc.string(),
    );
    fc.assert(
      fc.property(
        fc.array(route, { maxLength: 8 }),
        fc.oneof(addr, fc.constant('%any'), fc.string()),
        fc.constantFrom('up' as const, 'down' as const),
        fc.constantFrom('open' as const, 'closed' as const),
        fc.boolean(),
        fc.option(fc.constant(UNDERLAY), { nil: undefined }),
        (routes, remote, state, failMode, pinUnderlay, underlay) => {
          const p = planRoutes(tunnel({ routes, remote, failMode, pinUnderlay }), state, underlay);
          const pins = p.routes.filter((r) => r.kind === 'pin');
          const rest = p.routes.filter((r) => r.kind !== 'pin');
          expect(pins.length).toBeLessThanOrEqual(pinUnderlay ? 1 : 0);
          expect(new Set(p.routes.map((r) => r.dst)).size).toBe(p.routes.length);
          for (const r of p.routes) expect(parseCidr(r.dst).ok).toBe(true);
          if (p.routes.some((r) => r.dst === '0.0.0.0/0')) throw new Error('default route must be split');
          if (state === 'up') expect(rest.every((r) => r.kind === 'tunnel' && r.dev === 'bg0')).toBe(true);
          else if (failMode === 'open') expect(rest).toEqual([]);
          else expect(rest.every((r) => r.type === 'blackhole')).toBe(true);
          // With pinUnderlay, nothing but the pin may ever cover the endpoint without a pin present.
          if (pinUnderlay && pins.length === 0 && p.remote !== undefined) {
            expect(rest.some((r) => prefixContains(r.dst, remote))).toBe(false);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('mergePlans', () => {
  it('one route per prefix: pin > tunnel > blackhole, then the tunnel configured first; pins come first', () => {
    const primary = planRoutes(tunnel({ routes: ['198.51.100.0/25', '100.64.0.0/10'], failMode: 'closed' }), 'down', UNDERLAY);
    const backup = planRoutes(tunnel({ name: 't2', interface: 'bg1', remote: '203.0.113.6', routes: ['198.51.100.0/25', '203.0.113.5/32'] }), 'up', UNDERLAY);
    const m = mergePlans([primary, backup]);
    expect(m.routes.map((r) => `${r.tunnel} ${describeRoute(r)}`)).toEqual([
      't1 203.0.113.5/32 via 192.0.2.254 dev eth0',
      't2 203.0.113.6/32 via 192.0.2.254 dev eth0',
      't2 198.51.100.0/25 dev bg1',
      't1 blackhole 100.64.0.0/10',
    ]);
    expect(m.problems).toEqual([]);

    const bothUp = mergePlans([planRoutes(tunnel(), 'up', UNDERLAY), planRoutes(tunnel({ name: 't2', interface: 'bg1', remote: '203.0.113.6' }), 'up', UNDERLAY)]);
    expect(bothUp.routes.find((r) => r.dst === '198.51.100.0/25')?.tunnel).toBe('t1');
    expect(bothUp.problems[0]).toMatch(/tunnel t1 already has 198\.51\.100\.0\/25 dev bg0; tunnel t2's 198\.51\.100\.0\/25 dev bg1 is not installed/);
  });

  it("drops another tunnel's route that would capture an endpoint whose pin is wanted but unresolved", () => {
    const full = planRoutes(tunnel({ routes: ['0.0.0.0/0'] }), 'up', UNDERLAY);
    const other = planRoutes(tunnel({ name: 't2', interface: 'bg1', remote: '198.51.100.77', routes: [] }), 'up', undefined);
    const m = mergePlans([full, other]);
    expect(m.routes.map((r) => r.dst)).toEqual(['203.0.113.5/32', '0.0.0.0/1']);
    expect(m.problems.join('\n')).toMatch(/128\.0\.0\.0\/1 of tunnel t1 left out: it contains tunnel t2's remote endpoint 198\.51\.100\.77/);
    const nopin = planRoutes(tunnel({ name: 't2', interface: 'bg1', remote: '198.51.100.77', routes: [], pinUnderlay: false }), 'up', undefined);
    const w = mergePlans([full, nopin]);
    expect(w.routes.map((r) => r.dst)).toContain('128.0.0.0/1');
    expect(w.problems.join('\n')).toMatch(/pinUnderlay is false: t2's outer packets will be captured/);
  });
});

const K = (r: Partial<KernelRoute> & { dst: string }): KernelRoute => ({ type: 'unicast', metric: 0, flags: [], ...r });

describe('pickUnderlay (the fallback when the kernel answer is one of ours)', () => {
  const ex = { proto: '249', devs: new Set(['bg0']) };
  it('longest prefix, then lowest metric; our routes and tunnel interfaces are invisible', () => {
    const table = [
      K({ dst: '0.0.0.0/0', gateway: '192.0.2.254', dev: 'eth0', metric: 100 }),
      K({ dst: '0.0.0.0/0', gateway: '192.0.2.253', dev: 'eth0', metric: 50 }),
      K({ dst: '0.0.0.0/1', dev: 'bg0', protocol: '249' }),
      K({ dst: '203.0.113.5/32', gateway: '192.0.2.254', dev: 'eth0', protocol: '249' }),
      K({ dst: '203.0.113.0/24', dev: 'bg0', protocol: 'bird' }),
      K({ dst: '192.0.2.0/24', dev: 'eth0', protocol: 'kernel' }),
    ];
    expect(pickUnderlay(table, '203.0.113.5', ex)).toEqual({ dev: 'eth0', gateway: '192.0.2.253' });
    expect(pickUnderlay(table, '192.0.2.77', ex)).toEqual({ dev: 'eth0' });
    expect(pickUnderlay(table, '%any', ex)).toBeUndefined();
  });
  it('multipath takes the first next hop outside the tunnels; blackhole or nothing gives undefined', () => {
    const mp = K({ dst: '0.0.0.0/0', nexthops: [{ dev: 'bg0', flags: [] }, { dev: 'wan1', gateway: '198.51.100.1', flags: ['onlink'] }] });
    expect(pickUnderlay([mp], '203.0.113.5', ex)).toEqual({ dev: 'wan1', gateway: '198.51.100.1', onlink: true });
    expect(pickUnderlay([K({ dst: '0.0.0.0/0', type: 'blackhole' })], '203.0.113.5', ex)).toBeUndefined();
    expect(pickUnderlay([], '203.0.113.5', ex)).toBeUndefined();
  });
});

describe('kernel output and ip arguments', () => {
  it('parses `ip -json route show` as iproute2 6.1 prints it', () => {
    const out =
      '[{"dst":"0.0.0.0/1","dev":"bgt0","protocol":"249","scope":"link","flags":["linkdown"]},{"dst":"default","gateway":"192.0.2.254","dev":"v0","flags":[]},' +
      '{"type":"blackhole","dst":"40.96.0.0/13","protocol":"249","flags":[]},{"dst":"203.0.113.5","gateway":"192.0.2.254","dev":"v0","protocol":"249","metric":20,"flags":[]}]\n';
    const rs = parseKernelRoutes(out, 'ip -json route show');
    expect(rs.map((r) => [r.dst, r.type, r.dev, r.gateway, r.protocol, r.metric])).toEqual([
      ['0.0.0.0/1', 'unicast', 'bgt0', undefined, '249', 0],
      ['0.0.0.0/0', 'unicast', 'v0', '192.0.2.254', undefined, 0],
      ['40.96.0.0/13', 'blackhole', undefined, undefined, '249', 0],
      ['203.0.113.5/32', 'unicast', 'v0', '192.0.2.254', '249', 20],
    ]);
    expect(parseKernelRoutes('', 'x')).toEqual([]);
    expect(() => parseKernelRoutes('Error', 'ip -json route show')).toThrow(/not JSON.*-json support/);
    expect(normaliseDst('default')).toBe('0.0.0.0/0');
  });

  it('builds replace arguments tagged with the protocol in table main', () => {
    expect(routeArgs({ dst: '203.0.113.5/32', type: 'unicast', dev: 'eth0', gateway: '192.0.2.254' }, 249)).toEqual(
      ['203.0.113.5/32', 'via', '192.0.2.254', 'dev', 'eth0', 'proto', '249', 'table', 'main'],
    );
    expect(routeArgs({ dst: '0.0.0.0/1', type: 'blackhole' }, 249)).toEqual(['blackhole', '0.0.0.0/1', 'proto', '249', 'table', 'main']);
  });

  it('compares desired and kernel routes on type, device, gateway, onlink and metric', () => {
    const d = { dst: '0.0.0.0/1', type: 'unicast' as const, dev: 'bg0' };
    expect(matchesKernel(d, K({ dst: '0.0.0.0/1', dev: 'bg0', flags: ['linkdown'] }))).toBe(true);
    expect(matchesKernel(d, K({ dst: '0.0.0.0/1', dev: 'bg1' }))).toBe(false);
    expect(matchesKernel(d, K({ dst: '0.0.0.0/1', type: 'blackhole' }))).toBe(false);
    expect(matchesKernel(d, K({ dst: '0.0.0.0/1', dev: 'bg0', metric: 5 }))).toBe(false);
    expect(matchesKernel({ dst: '0.0.0.0/1', type: 'blackhole' }, K({ dst: '0.0.0.0/1', type: 'blackhole' }))).toBe(true);
  });
});
