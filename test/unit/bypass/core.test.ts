/**
 * The bypass core (src/bypass/core.ts) with a scripted resolver and a fake clock: TTL-driven
 * re-resolution bounded to 30 s .. 1 h, addresses that leave the answer kept for the grace
 * period, failures keeping the last good addresses, and what status() reports.
 */
import { describe, expect, it } from 'vitest';
import { BypassCore, type ResolvedAddress } from '../../../src/bypass/core.js';

function setup(answers: Record<string, (ResolvedAddress[] | Error)[]>, graceMs = 60_000) {
  let now = 1_000_000;
  const calls: string[] = [];
  const core = new BypassCore({
    prefixes: ['198.51.100.0/24'], hostnames: Object.keys(answers), graceMs, now: () => now,
    resolver: {
      async resolve4(name) {
        calls.push(name);
        const next = answers[name]!.length > 1 ? answers[name]!.shift()! : answers[name]![0]!;
        if (next instanceof Error) throw next;
        return next;
      },
    },
  });
  return { core, calls, advance: (ms: number) => (now += ms), now: () => now };
}

describe('bypass core', () => {
  it('installs the prefixes and each host name\'s addresses as /32s', async () => {
    const { core } = setup({ 'a.example.test': [[{ address: '203.0.113.5', ttl: 300 }, { address: '203.0.113.6', ttl: 300 }]] });
    expect(core.desired()).toEqual(['198.51.100.0/24']);
    await core.refresh();
    expect(core.desired()).toEqual(['198.51.100.0/24', '203.0.113.5/32', '203.0.113.6/32']);
  });

  it('re-resolves at the TTL, bounded to at least 30 s and at most 1 h', async () => {
    const { core, calls, advance, now } = setup({
      'short.example.test': [[{ address: '203.0.113.1', ttl: 0 }]],
      'long.example.test': [[{ address: '203.0.113.2', ttl: 604800 }]],
      'mid.example.test': [[{ address: '203.0.113.3', ttl: 120 }]],
    });
    await core.refresh();
    expect(calls.length).toBe(3);
    const st = core.status().hostnames;
    const next = (n: string) => Date.parse(st.find((h) => h.name === n)!.nextResolve) - now();
    expect(next('short.example.test')).toBe(30_000);
    expect(next('mid.example.test')).toBe(120_000);
    expect(next('long.example.test')).toBe(3_600_000);
    advance(29_999);
    await core.refresh();
    expect(calls.length, 'nothing is due before 30 s').toBe(3);
    advance(1);
    await core.refresh();
    expect(calls).toEqual(['short.example.test', 'long.example.test', 'mid.example.test', 'short.example.test']);
    expect(core.nextWakeup()).toBe(now() + 30_000);
  });

  it('an address that leaves the answer is removed only after the grace period', async () => {
    const { core, advance } = setup({ 'moving.example.test': [[{ address: '203.0.113.7', ttl: 30 }], [{ address: '203.0.113.8', ttl: 30 }]] }, 60_000);
    await core.refresh();
    advance(30_000);
    await core.refresh();
    expect(core.desired(), 'old and new while the old is within grace').toEqual(['198.51.100.0/24', '203.0.113.7/32', '203.0.113.8/32']);
    advance(30_000);
    await core.refresh();
    expect(core.desired()).toContain('203.0.113.7/32');
    advance(30_001);
    await core.refresh();
    expect(core.desired()).toEqual(['198.51.100.0/24', '203.0.113.8/32']);
  });

  it('a failing name keeps its last good addresses and is reported; recovery clears the error', async () => {
    const { core, advance } = setup({ 'flaky.example.test': [[{ address: '203.0.113.9', ttl: 30 }], new Error('queryA ESERVFAIL flaky.example.test'), new Error('queryA ETIMEOUT'), [{ address: '203.0.113.9', ttl: 30 }]] }, 60_000);
    await core.refresh();
    for (let i = 0; i < 2; i++) {
      advance(30_000);
      await core.refresh();
    }
    advance(50_000); // beyond the grace since the last answer, but the resolver is what is broken
    expect(core.desired()).toContain('203.0.113.9/32');
    const h = core.status().hostnames[0]!;
    expect(h.error).toBe('queryA ETIMEOUT');
    expect(h.failures).toBe(2);
    expect(h.addresses).toEqual(['203.0.113.9']);
    await core.refresh();
    const ok = core.status().hostnames[0]!;
    expect(ok.error).toBeNull();
    expect(ok.resolutions).toBe(2);
  });

  it('a name that never resolved has no addresses and says why', async () => {
    const { core } = setup({ 'nx.example.test': [new Error('queryA ENOTFOUND nx.example.test')] });
    await core.refresh();
    expect(core.desired()).toEqual(['198.51.100.0/24']);
    expect(core.status().hostnames[0]).toMatchObject({ name: 'nx.example.test', addresses: [], lastResolved: null, error: 'queryA ENOTFOUND nx.example.test' });
  });

  it('an empty answer counts as a failure', async () => {
    const { core } = setup({ 'empty.example.test': [[]] });
    await core.refresh();
    expect(core.status().hostnames[0]!.error).toBe('no A records');
  });
});
