import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssue, loadConfigFile, parseConfig } from '../../../src/config/load.js';
import { bytesToIPv4, selectorToString } from '../../../src/config/cidr.js';

const CONFIG_DIR = join(import.meta.dirname, '../../../config');

/** contract.md "Configuration (YAML)", verbatim except for the psk value. */
const CONTRACT_EXAMPLE = `log:
  level: info                      # trace|debug|info|warn|error
control:
  socket: /run/branchgate/control.sock
  metrics: 127.0.0.1:9477          # Prometheus endpoint; omit to disable

tunnels:
  - name: gsa-primary
    localAddress: 192.0.2.10       # address to send from (default: chosen by route lookup)
    remoteAddress: 20.245.111.21   # the GSA endpoint ("%any" on a responder)
    localId: 192.0.2.10            # default: localAddress as ID_IPV4_ADDR; also fqdn:NAME, keyid:HEX, email:ADDR
    remoteId: 20.245.111.21        # default: remoteAddress; "%any" accepts any
    psk: "contract-example-psk-7d1e"   # or pskFile: PATH, or pskEnv: VAR (exactly one)
    profile: gsa-default           # expands to GSA's default IKE/ESP proposal table
    # or explicit proposals, strongSwan syntax, most preferred first:
    # ike: [aes256gcm16-prfsha384-modp2048s256, aes256-sha384-modp2048]
    # esp: [aes256gcm16, aes128gcm16]
    ikeLifetime: 8h
    childLifetime: 1h
    pfs: none                      # none | same | a DH group name (modp2048, modp2048s256, ecp256, ...)
    natT: auto                     # auto | force (always encapsulate in UDP 4500)
    dpd: 10s                       # liveness check interval; 0 disables
    initiate: true                 # false: wait for the peer (responder)
    localTs: [0.0.0.0/0]           # traffic selectors; default any-to-any (route-based)
    remoteTs: [0.0.0.0/0]
    interface: bg0                 # TUN device for this tunnel
    mtu: 1380
    mssClamp: 1340                 # clamp TCP MSS in both directions; 0 disables
    routes: [13.107.6.152/31, 40.96.0.0/13]   # prefixes steered into this tunnel (static)

routing:
  failMode: open                   # open: withdraw tunnel routes when down; closed: blackhole them
  pinUnderlay: true                # keep a /32 route to each remote endpoint via the underlay

bgp:                               # optional; GSA requires it
  asn: 65010                       # the CPE's ASN ("Device ASN")
  address: 10.1.0.1                # the CPE's BGP address ("Device BGP address")
  advertise: [172.16.0.0/16]       # branch LAN prefixes
  neighbors:
    - address: 192.168.1.2         # GSA's BGP address ("Local BGP address" in the portal)
      asn: 65476
      tunnel: gsa-primary
`;

function mustParse(text: string, env: NodeJS.ProcessEnv = {}) {
  const r = parseConfig(text, 'test.yaml', env);
  if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
  return r;
}

describe('the contract example', () => {
  const { config, warnings } = mustParse(CONTRACT_EXAMPLE);
  const t = config.tunnels[0]!;

  it('loads without warnings', () => {
    expect(warnings).toEqual([]);
    expect(config.tunnels).toHaveLength(1);
  });

  it('resolves top-level sections', () => {
    expect(config.log).toEqual({ level: 'info' });
    expect(config.control).toEqual({ socket: '/run/branchgate/control.sock', metrics: '127.0.0.1:9477' });
    expect(config.routing).toEqual({ failMode: 'open', pinUnderlay: true });
    expect(config.bgp).toEqual({
      asn: 65010, address: '10.1.0.1', advertise: ['172.16.0.0/16'],
      neighbors: [{ address: '192.168.1.2', asn: 65476, tunnel: 'gsa-primary' }],
      // defaults (config/bgp-defaults.ts); BIRD's files sit next to the control socket
      maxPrefixes: 1000, maxPrefixAction: 'disable', holdTime: 90, multipath: true, kernelMetric: 32,
      acceptCoveringEndpoint: false,
      bird: { binary: 'bird', socket: '/run/branchgate/control.bird.ctl', config: '/run/branchgate/control.bird.conf' },
    });
  });

  it('resolves the tunnel', () => {
    expect(t).toMatchObject({
      name: 'gsa-primary', localAddress: '192.0.2.10', remoteAddress: '20.245.111.21',
      ikeLifetime: 28800, childLifetime: 3600, childLifetimeBytes: 0, childLifetimePackets: 0, pfs: { kind: 'none' }, natT: 'auto', dpd: 10, fragmentation: 'auto', fragmentSize: 1280,
      initiate: true, interface: 'bg0', mtu: 1380, mssClamp: 1340,
      routes: ['13.107.6.152/31', '40.96.0.0/13'],
    });
    expect(t.localId).toMatchObject({ idType: 1, display: '192.0.2.10' });
    expect([...t.localId.data]).toEqual([192, 0, 2, 10]);
    expect(t.remoteId && bytesToIPv4(t.remoteId.data)).toBe('20.245.111.21');
    expect(t.localTs.map(selectorToString)).toEqual(['0.0.0.0/0']);
    expect(t.remoteTs.map(selectorToString)).toEqual(['0.0.0.0/0']);
    expect(new TextDecoder().decode(t.psk.reveal())).toBe('contract-example-psk-7d1e');
  });

  it('expands gsa-default: C1 first, C8 last, three ESP proposals', () => {
    expect(t.ikeProposals).toHaveLength(8);
    expect(t.ikeProposals[0]!.transforms).toEqual([
      { type: 1, id: 20, keyLength: 256 }, { type: 2, id: 6 }, { type: 4, id: 24 },
    ]);
    expect(t.ikeProposals[7]!.transforms).toEqual([
      { type: 1, id: 12, keyLength: 128 }, { type: 2, id: 5 }, { type: 3, id: 12 }, { type: 4, id: 14 },
    ]);
    expect(t.espProposals.map((p) => p.transforms)).toEqual([256, 192, 128].map((kl) => [
      { type: 1, id: 20, keyLength: kl }, { type: 5, id: 0 },
    ]));
  });
});

describe('defaults', () => {
  const minimal = `tunnels:
  - name: a
    localAddress: 192.0.2.10
    remoteAddress: 198.51.100.1
    psk: "minimal-example-psk"
  - name: b
    localAddress: 192.0.2.10
    remoteAddress: 198.51.100.2
    psk: "minimal-example-psk"
    mtu: 1280
    ike: [aes256-sha256-modp2048]
    esp: [aes128gcm16-ecp256]
    pfs: ecp256
`;
  const { config } = mustParse(minimal);
  const [a, b] = config.tunnels;

  it('fills every documented default', () => {
    expect(config.log.level).toBe('info');
    expect(config.control).toEqual({ socket: '/run/branchgate/control.sock' });
    expect(config.routing).toEqual({ failMode: 'open', pinUnderlay: true });
    expect(config.bgp).toBeUndefined();
    expect(a).toMatchObject({
      ikeLifetime: 8 * 3600, childLifetime: 3600, childLifetimeBytes: 0, childLifetimePackets: 0, pfs: { kind: 'none' }, natT: 'auto', dpd: 10, fragmentation: 'auto', fragmentSize: 1280,
      initiate: true, interface: 'bg0', mtu: 1380, mssClamp: 1340, routes: [],
    });
    expect(a!.localId.display).toBe('192.0.2.10');
    expect(a!.remoteId?.display).toBe('198.51.100.1');
    expect(a!.ikeProposals).toHaveLength(8); // gsa-default when neither profile nor ike/esp
    expect(a!.localTs.map(selectorToString)).toEqual(['0.0.0.0/0']);
  });

  it('numbers interfaces by position and derives mssClamp from mtu', () => {
    expect(b!.interface).toBe('bg1');
    expect(b!.mssClamp).toBe(1240);
    expect(b!.pfs).toEqual({ kind: 'group', group: 19 });
    expect(b!.ikeProposals).toHaveLength(1);
    expect(b!.espProposals[0]!.transforms).toEqual([
      { type: 1, id: 20, keyLength: 128 }, { type: 4, id: 19 }, { type: 5, id: 0 },
    ]);
  });

  it('remoteId is null for a "%any" responder', () => {
    const { config } = mustParse(`tunnels:
  - name: r
    localAddress: 198.51.100.10
    remoteAddress: "%any"
    initiate: false
    pskEnv: LAB_PSK
`, { LAB_PSK: 'from-the-environment' });
    expect(config.tunnels[0]!.remoteId).toBeNull();
    expect(new TextDecoder().decode(config.tunnels[0]!.psk.reveal())).toBe('from-the-environment');
  });
});

describe('example configs in config/', () => {
  const files = readdirSync(CONFIG_DIR).filter((f) => /\.ya?ml$/.test(f));

  it('includes the lab pair', () => {
    expect(files).toEqual(expect.arrayContaining(['lab-initiator.yaml', 'lab-responder.yaml']));
  });

  it.each(files)('%s loads', (f) => {
    // The GSA examples read their PSKs from the environment (never from the file).
    const r = loadConfigFile(join(CONFIG_DIR, f), { GSA_PSK: 'example-psk-1', GSA_ZONE_PSK: 'example-psk-2' });
    if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
    expect(r.config.tunnels.length).toBeGreaterThan(0);
  });

  it('the lab pair can talk to each other', () => {
    const i = loadConfigFile(join(CONFIG_DIR, 'lab-initiator.yaml'), {});
    const r = loadConfigFile(join(CONFIG_DIR, 'lab-responder.yaml'), {});
    if (!i.ok || !r.ok) throw new Error('lab configs must load');
    const [ti, tr] = [i.config.tunnels[0]!, r.config.tunnels[0]!];
    expect(ti.remoteAddress).toBe(tr.localAddress);
    expect(tr.remoteId?.display).toBe(ti.localId.display);
    expect(Buffer.from(ti.psk.reveal()).equals(Buffer.from(tr.psk.reveal()))).toBe(true);
    // every proposal the initiator sends is one the responder accepts
    const key = (p: { transforms: unknown[] }) => JSON.stringify(p.transforms);
    const accepted = new Set(tr.ikeProposals.map(key));
    for (const p of ti.ikeProposals) expect(accepted.has(key(p))).toBe(true);
    const acceptedEsp = new Set(tr.espProposals.map(key));
    for (const p of ti.espProposals) expect(acceptedEsp.has(key(p))).toBe(true);
  });
});

describe('loadConfigFile', () => {
  it('reports an unreadable file instead of throwing', () => {
    const r = loadConfigFile('/nonexistent/branchgate.yaml');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(formatIssue(r.errors[0]!)).toBe('/nonexistent/branchgate.yaml:1:1: cannot read the config file: ENOENT');
  });
});
