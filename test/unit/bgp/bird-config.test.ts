import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { protocolName, renderBirdConfig, type BirdConfigInput } from '../../../src/bgp/bird-config.js';
import { parseConfig } from '../../../src/config/load.js';
import type { BgpConfig } from '../../../src/config/types.js';

const CONFIG_DIR = join(import.meta.dirname, '../../../config');
const ENV = { GSA_PSK: 'unit-test-psk-1', GSA_ZONE_PSK: 'unit-test-psk-2' };

/** `bird -p` parses a config and exits: the real grammar is the judge of what we generate. */
const BIRD = ['/usr/sbin/bird', '/usr/bin/bird'].find((p) => existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'bgt-birdconf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function birdParses(text: string): void {
  if (!BIRD) {
    if (process.env.CI === 'true') throw new Error('bird is not installed (apt-get install -y bird2): the generated config cannot be checked');
    return;
  }
  const f = join(dir, `c${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(f, text);
  try {
    execFileSync(BIRD, ['-p', '-c', f], { stdio: 'pipe', timeout: 10_000 });
  } catch (e) {
    const err = e as { stderr?: Buffer };
    throw new Error(`bird -p rejected the generated config: ${err.stderr?.toString() ?? String(e)}\n${text}`);
  }
}

function exampleInput(file: string): BirdConfigInput {
  const r = parseConfig(readFileSync(join(CONFIG_DIR, file), 'utf8'), join(CONFIG_DIR, file), ENV);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return { bgp: r.config.bgp!, tunnels: r.config.tunnels };
}

const BGP: BgpConfig = {
  asn: 65010, address: '10.1.0.1', advertise: ['172.16.0.0/16', '10.9.0.0/24'],
  neighbors: [{ address: '192.168.1.2', asn: 65476, tunnel: 'z1' }, { address: '192.168.1.3', asn: 65476, tunnel: 'z2' }],
};
const TUNNELS = [
  { name: 'z1', interface: 'bg0', remoteAddress: '20.245.111.21' },
  { name: 'z2', interface: 'bg1', remoteAddress: '20.245.111.77' },
];

describe('renderBirdConfig', () => {
  it('every shipped GSA example yields a config BIRD accepts', () => {
    for (const f of ['gsa-default.yaml', 'gsa-custom.yaml', 'gsa-zone-redundant.yaml', 'gsa-from-portal.yaml']) birdParses(renderBirdConfig(exampleInput(f)));
  });

  it('router id, source address, multihop, limits and timers from the bgp: section', () => {
    const text = renderBirdConfig({ bgp: { ...BGP, maxPrefixes: 50, maxPrefixAction: 'restart', holdTime: 30 }, tunnels: TUNNELS });
    birdParses(text);
    expect(text).toContain('router id 10.1.0.1;');
    const p = text.slice(text.indexOf('protocol bgp bgp_192_168_1_2 {'));
    expect(p).toMatch(/local as 65010;\n\s+source address 10\.1\.0\.1;\n\s+neighbor 192\.168\.1\.2 as 65476;\n\s+multihop 255;\n\s+hold time 30;/);
    expect(p).toContain('import limit 50 action restart;');
    expect(p).toContain('disabled no;');
  });

  it('a /32 device route to each neighbor through its own tunnel interface', () => {
    const text = renderBirdConfig({ bgp: BGP, tunnels: TUNNELS });
    expect(text).toContain('route 192.168.1.2/32 via "bg0";');
    expect(text).toContain('route 192.168.1.3/32 via "bg1";');
  });

  it('import filters refuse our LAN, BGP addresses and anything containing an endpoint', () => {
    const text = renderBirdConfig({ bgp: BGP, tunnels: TUNNELS });
    expect(text).toContain('if net ~ [ 172.16.0.0/16+, 10.9.0.0/24+ ] then reject;');
    expect(text).toContain('if net ~ [ 10.1.0.1/32, 192.168.1.2/32, 192.168.1.3/32 ] then reject;');
    expect(text).toContain('if net ~ [ 20.245.111.21/32{0,32}, 20.245.111.77/32{0,32} ] then reject;');
    const covering = renderBirdConfig({ bgp: { ...BGP, acceptCoveringEndpoint: true }, tunnels: TUNNELS });
    birdParses(covering);
    expect(covering).toContain('if net ~ [ 20.245.111.21/32, 20.245.111.77/32 ] then reject;');
  });

  it('only bg_lan is announced; the kernel gets BGP routes, peers and holds, never bg_lan', () => {
    const text = renderBirdConfig({ bgp: BGP, tunnels: TUNNELS });
    expect(text).toMatch(/filter bg_export \{\n\s+if proto = "bg_lan" then accept;\n\s+reject;/);
    expect(text).toMatch(/filter bg_kernel_out \{\n\s+if proto = "bg_peers" then accept;\n\s+if proto ~ "bg_hold_\*" then accept;\n\s+if source = RTS_BGP then \{ accept; \}\n\s+reject;/);
    expect(text).toContain('route 172.16.0.0/16 unreachable;');
  });

  it('krt_prefsrc only when the BGP address is inside an advertised prefix', () => {
    const text = renderBirdConfig({ bgp: { ...BGP, address: '10.9.0.5' }, tunnels: TUNNELS });
    birdParses(text);
    expect(text).toContain('if source = RTS_BGP then { krt_prefsrc = 10.9.0.5; accept; }');
  });

  it('multipath: ECMP in the kernel; off: preference follows neighbor order', () => {
    expect(renderBirdConfig({ bgp: BGP, tunnels: TUNNELS })).toContain('merge paths on;');
    const standby = renderBirdConfig({ bgp: { ...BGP, multipath: false, kernelMetric: 200 }, tunnels: TUNNELS });
    birdParses(standby);
    expect(standby).not.toContain('merge paths');
    expect(standby).toContain('metric 200;');
    expect(standby.match(/preference (\d+);/g)).toEqual(['preference 100;', 'preference 99;']);
  });

  it('down tunnels disable their neighbor; held prefixes become blackholes below BGP', () => {
    const text = renderBirdConfig({
      bgp: BGP, tunnels: TUNNELS, disabled: new Set(['192.168.1.3']),
      hold: new Map([['192.168.1.3', ['13.107.6.152/31', '40.96.0.0/13']]]),
    });
    birdParses(text);
    expect(text.slice(text.indexOf('protocol bgp bgp_192_168_1_3'))).toContain('disabled yes;');
    expect(text).toMatch(/protocol static bg_hold_192_168_1_3 \{\n\s+ipv4 \{ preference 10; \};\n\s+route 13\.107\.6\.152\/31 blackhole;\n\s+route 40\.96\.0\.0\/13 blackhole;/);
  });

  it('protocol names are stable and derived from the address', () => {
    expect(protocolName('192.168.1.2')).toBe('bgp_192_168_1_2');
    expect(() => protocolName('192.168.1.2"; }')).toThrow(/not an IPv4 address/);
  });

  it('refuses input that would inject text into the config', () => {
    expect(() => renderBirdConfig({ bgp: BGP, tunnels: [{ ...TUNNELS[0]!, interface: 'bg0"; }' }, TUNNELS[1]!] })).toThrow(/not a valid name/);
    expect(() => renderBirdConfig({ bgp: { ...BGP, advertise: ['10.0.0.0/8; }'] }, tunnels: TUNNELS })).toThrow(/bgp.advertise/);
    expect(() => renderBirdConfig({ bgp: { ...BGP, neighbors: [{ address: '192.168.1.2', asn: 65476, tunnel: 'nope' }] }, tunnels: TUNNELS })).toThrow(/not configured/);
  });
});
