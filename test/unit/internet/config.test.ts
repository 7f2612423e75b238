/**
 * The Internet Access keys through `branchgate check-config` (FILE:LINE:COL messages that say
 * what to add or remove), the resolved Config, the shipped example, and what BIRD is told.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { parseConfig } from '../../../src/config/load.js';
import { renderBirdConfig } from '../../../src/bgp/bird-config.js';
import { parseResolvConf } from '../../../src/bypass/system-resolver.js';
import { renderIpv6Guard } from '../../../src/ipv6/guard.js';

const CONFIG_DIR = join(import.meta.dirname, '../../../config');
const dir = mkdtempSync(join(tmpdir(), 'bg-inet-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function checkConfig(text: string): Promise<{ code: number; err: string; file: string }> {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  let err = '';
  const code = await main(['check-config', file], { stdout: { write: () => undefined }, stderr: { write: (s: string) => (err += s) }, env: { GSA_PSK: 'x-psk-value-of-24-octets' } });
  return { code, err, file };
}

const TUNNEL = `tunnels:
  - name: gsa
    localAddress: 192.0.2.10
    remoteAddress: 20.245.111.21
    pskEnv: GSA_PSK
    profile: gsa-default
`;
const BGP = `bgp:
  asn: 65010
  address: 10.1.0.1
  advertise: [172.16.0.0/16]
  neighbors: [{ address: 192.168.1.2, asn: 65476, tunnel: gsa }]
`;

describe('check-config: Internet Access', () => {
  it('the shipped example with Internet Access passes', async () => {
    let err = '';
    const code = await main(['check-config', join(CONFIG_DIR, 'gsa-internet.yaml')], { stdout: { write: () => undefined }, stderr: { write: (s: string) => (err += s) }, env: { GSA_PSK: 'x-psk-value-of-24-octets' } });
    expect(err).toBe('');
    expect(code).toBe(0);
  });

  it('internet without bgp: and without a full-tunnel route says what to add', async () => {
    const r = await checkConfig(`gsa:\n  profiles: [microsoft, internet]\n${TUNNEL}`);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${r.file}:2:13: gsa.profiles: the internet profile needs GSA's routes: add a bgp: section`);
    const ok = await checkConfig(`gsa:\n  profiles: [internet]\n${TUNNEL}    routes: [0.0.0.0/0]\n`);
    expect(ok.err).toBe('');
  });

  it('private is reserved, unknown profiles are named', async () => {
    const r = await checkConfig(`gsa:\n  profiles: [private, intranet]\n${TUNNEL}${BGP}`);
    expect(r.err).toContain(`${r.file}:2:14: gsa.profiles.0: the Private Access profile is reserved`);
    expect(r.err).toContain(`${r.file}:2:23: gsa.profiles.1: "intranet" is not a traffic profile; use microsoft and/or internet`);
  });

  it('pinUnderlay false, productivity with failMode closed, acceptCoveringEndpoint false are refused with the fix', async () => {
    const r = await checkConfig(`gsa:\n  profiles: [internet]\n${TUNNEL}routing:\n  pinUnderlay: false\n  failMode: closed\n  defaultRoute: productivity\n${BGP}  acceptCoveringEndpoint: false\n`);
    expect(r.err).toContain(`${r.file}:10:16: routing.pinUnderlay: the internet profile covers every tunnel endpoint: set pinUnderlay: true`);
    expect(r.err).toContain(`${r.file}:11:13: routing.failMode: failMode: closed holds GSA's routes as blackholes`);
    expect(r.err).toContain('bgp.acceptCoveringEndpoint: the internet profile accepts routes that cover the endpoints');
  });

  it('defaultRoute without internet traffic in any tunnel says to add the profile or remove the key', async () => {
    const r = await checkConfig(`${TUNNEL}routing:\n  defaultRoute: security\n`);
    expect(r.err).toContain(`${r.file}:8:17: routing.defaultRoute: defaultRoute only decides internet traffic: add internet to gsa.profiles`);
  });

  it('bypass entries: IPv4 prefixes, addresses and host names; IPv6 and junk refused at their position', async () => {
    const r = await checkConfig(`${TUNNEL}bypass: [198.51.100.0/24, 203.0.113.7, updates.example.com, "2001:db8::/32", "not a host", 10.0.0.1/33]\n`);
    expect(r.err).toContain(`${r.file}:7:61: bypass.3: "2001:db8::/32" is IPv6`);
    expect(r.err).toContain('bypass.4: "not a host" is neither an IPv4 prefix nor a host name');
    expect(r.err).toContain('bypass.5:');
    expect(r.err.split('\n').filter((l) => l.includes('bypass.0') || l.includes('bypass.1') || l.includes('bypass.2'))).toEqual([]);
  });

  it('ipv6: branch prefixes must be IPv6; a typo in the object is named', async () => {
    const r = await checkConfig(`${TUNNEL}ipv6:\n  policy: block\n  branchPrefixes: [10.0.0.0/8]\n  blok: 1\n`);
    expect(r.err).toContain('ipv6.branchPrefixes.0: expected an IPv6 prefix');
    expect(r.err).toContain('ipv6.blok: unknown key "blok"');
  });
});

describe('resolved Config', () => {
  const load = (text: string) => {
    const r = parseConfig(text, join(dir, 'x.yaml'), { GSA_PSK: 'x-psk-value-of-24-octets' });
    if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
    return r.config;
  };

  it('internet: defaults (security, ipv6 block, max-prefix 200000, covering routes accepted, table 249)', () => {
    const c = load(`gsa:\n  profiles: [microsoft, internet]\n${TUNNEL}${BGP}bypass: [198.51.100.7, Updates.Example.com]\n`);
    expect(c.internet).toEqual({
      profiles: ['microsoft', 'internet'], internetProfile: true, carriesInternet: true, defaultRoute: 'security',
      bypass: { prefixes: ['198.51.100.7/32'], hostnames: ['updates.example.com'] },
      ipv6: { policy: 'block', branchPrefixes: [], explicit: false },
    });
    expect(c.bgp).toMatchObject({ maxPrefixes: 200000, acceptCoveringEndpoint: true, kernelTable: 249 });
  });

  it('Microsoft profile only: nothing changes (max-prefix 1000, main table, IPv6 not touched)', () => {
    const c = load(`${TUNNEL}${BGP}`);
    expect(c.internet.carriesInternet).toBe(false);
    expect(c.internet.ipv6).toEqual({ policy: 'allow', branchPrefixes: [], explicit: false });
    expect(c.bgp?.maxPrefixes).toBe(1000);
    expect(c.bgp?.kernelTable).toBeUndefined();
  });

  it('a full-tunnel route carries internet traffic: ipv6 defaults to block', () => {
    const c = load(`${TUNNEL}    routes: [0.0.0.0/0]\n`);
    expect(c.internet.carriesInternet).toBe(true);
    expect(c.internet.ipv6.policy).toBe('block');
  });
});

describe('what BIRD and nftables are told', () => {
  it('internet: learned routes into table 249, covering the endpoint accepted, only the endpoint /32 refused', () => {
    const text = renderBirdConfig({
      bgp: { asn: 65010, address: '10.1.0.1', advertise: ['172.16.0.0/16'], neighbors: [{ address: '192.168.1.2', asn: 65476, tunnel: 'gsa' }], acceptCoveringEndpoint: true, kernelTable: 249, maxPrefixes: 200000 },
      tunnels: [{ name: 'gsa', interface: 'bg0', remoteAddress: '20.245.111.21' }],
    });
    expect(text).toContain('kernel table 249;');
    expect(text).toContain('if net ~ [ 20.245.111.21/32 ] then reject;');
    expect(text).not.toContain('20.245.111.21/32{0,32}');
    expect(text).toContain('import limit 200000 action disable;');
  });

  it('resolv.conf: name servers in order, comments and junk ignored', () => {
    expect(parseResolvConf('# x\nnameserver 198.18.0.53\nsearch example.test\nnameserver  2001:db8::53\nnameserver bogus\nnameserver 198.18.0.53\n')).toEqual(['198.18.0.53', '2001:db8::53']);
  });

  it('the IPv6 guard: our own table, forward hook, link-local and branch prefixes allowed, a named counter', () => {
    const t = renderIpv6Guard(['2001:db8:10::/64']);
    expect(t).toMatch(/^table inet branchgate \{/);
    expect(t).toContain('type filter hook forward priority -10; policy accept;');
    expect(t).toContain('ip6 daddr { fe80::/10, 2001:db8:10::/64 } accept');
    expect(t).toContain('counter name ipv6_dropped drop');
  });
});
