/**
 * GSA-specific configuration: the shipped examples, the device-link rules (one test per rule:
 * the message names the field and the rule, at the offending key's line:col), the custom-policy
 * names, and GSA's connectivityConfiguration pasted in or read from a file.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { formatIssue, parseConfig, type ConfigIssue } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/types.js';

const CONFIG_DIR = join(import.meta.dirname, '../../../config');
const ENV = { GSA_PSK: 'example-psk-zone-1-5f0c2a', GSA_ZONE_PSK: 'example-psk-zone-2-9d41be' };
const EXAMPLES = ['gsa-default.yaml', 'gsa-custom.yaml', 'gsa-zone-redundant.yaml', 'gsa-from-portal.yaml'];

function load(file: string) {
  const path = join(CONFIG_DIR, file);
  return parseConfig(readFileSync(path, 'utf8'), path, ENV);
}

function ok(text: string, file = 'gsa.yaml'): { config: Config; warnings: ConfigIssue[] } {
  const r = parseConfig(text, file, ENV);
  if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
  return r;
}

function errors(text: string, file = 'gsa.yaml'): ConfigIssue[] {
  const r = parseConfig(text, file, ENV);
  if (r.ok) throw new Error('expected the config to be rejected');
  return r.errors;
}

/** 1-based line and column of the n-th occurrence of needle. */
function posOf(text: string, needle: string, nth = 0): { line: number; col: number } {
  let at = -1;
  for (let i = 0; i <= nth; i++) at = text.indexOf(needle, at + 1);
  if (at < 0) throw new Error(`${needle} not in text`);
  const before = text.slice(0, at).split('\n');
  return { line: before.length, col: before[before.length - 1]!.length + 1 };
}

/** The one error, at the value `needle` (its first character), with path and a message matching re. */
function expectOne(text: string, needle: string, path: string, re: RegExp, nth = 0): void {
  expect(errors(text)).toEqual([expect.objectContaining({ ...posOf(text, needle, nth), path, message: expect.stringMatching(re) })]);
}

/** A valid single-tunnel GSA config; each rule test changes one thing. */
const BASE = `tunnels:
  - name: gsa
    localAddress: 192.0.2.10
    remoteAddress: 20.245.111.21
    pskEnv: GSA_PSK
    profile: gsa-default
bgp:
  asn: 65010
  address: 10.1.0.1
  advertise: [172.16.0.0/16]
  neighbors:
    - address: 192.168.1.2
      asn: 65476
      tunnel: gsa
`;
const CUSTOM = BASE.replace('    profile: gsa-default\n', `    profile: gsa-custom
    gsaPolicy:
      ikeEncryption: aes256
      ikeIntegrity: sha384
      dhGroup: dhGroup24
      ipSecEncryption: gcmAes256
      ipSecIntegrity: gcmAes256
      pfsGroup: none
`);

describe('shipped GSA examples', () => {
  it('all pass check-config without warnings', () => {
    for (const f of EXAMPLES) {
      const r = load(f);
      expect(r.ok ? r.warnings : r.errors.map(formatIssue), f).toEqual([]);
    }
  });

  it('gsa-from-portal.yaml (connectivityConfiguration JSON) resolves to exactly gsa-zone-redundant.yaml', () => {
    const a = load('gsa-zone-redundant.yaml');
    const b = load('gsa-from-portal.yaml');
    if (!a.ok || !b.ok) throw new Error('examples must load');
    expect(b.config).toEqual(a.config);
    // Secrets print as (hidden); compare the bytes the engine would use.
    expect(b.config.tunnels.map((t) => Buffer.from(t.psk.reveal()).toString())).toEqual(['example-psk-zone-1-5f0c2a', 'example-psk-zone-2-9d41be']);
    expect(a.config.tunnels.map((t) => Buffer.from(t.psk.reveal()).toString())).toEqual(['example-psk-zone-1-5f0c2a', 'example-psk-zone-2-9d41be']);
  });

  it('zone redundancy: two endpoints, two PSK sources, one CPE BGP address, two neighbors', () => {
    const r = load('gsa-zone-redundant.yaml');
    if (!r.ok) throw new Error('must load');
    expect(r.config.tunnels.map((t) => [t.name, t.remoteAddress, t.interface])).toEqual([
      ['gsa-zone1', '20.245.111.21', 'bg0'], ['gsa-zone2', '20.245.111.77', 'bg1']]);
    expect(r.config.bgp).toMatchObject({ asn: 65533, address: '10.0.2.5', neighbors: [
      { address: '192.168.1.2', asn: 65476, tunnel: 'gsa-zone1' }, { address: '192.168.1.3', asn: 65476, tunnel: 'gsa-zone2' }] });
  });
});

describe('GSA rules: each names the field and the rule, at the key', () => {
  it('base configs are valid', () => {
    expect(ok(BASE).warnings).toEqual([]);
    expect(ok(CUSTOM).warnings).toEqual([]);
  });

  it('phase 2 (gsaPolicy): only GCM/GCM or none/sha256', () => {
    const text = CUSTOM.replace('ipSecIntegrity: gcmAes256', 'ipSecIntegrity: sha256');
    expectOne(text, 'sha256\n      pfsGroup', 'tunnels.0.gsaPolicy.ipSecIntegrity', /GSA's phase-2 rule: .*gcmAes128\/gcmAes128.*none\/sha256 \(gsa\.md §2\.3\); gcmAes256\/sha256 is not one of them/);
    const mismatch = CUSTOM.replace('ipSecIntegrity: gcmAes256', 'ipSecIntegrity: gcmAes128');
    expectOne(mismatch, 'gcmAes128', 'tunnels.0.gsaPolicy.ipSecIntegrity', /gcmAes256\/gcmAes128 is not one of them/);
    expect(ok(CUSTOM.replace('ipSecEncryption: gcmAes256', 'ipSecEncryption: none').replace('ipSecIntegrity: gcmAes256', 'ipSecIntegrity: sha256')).config.tunnels[0]!.espProposals).toHaveLength(1);
  });

  it('phase 2 (explicit esp: on a gsa-custom tunnel)', () => {
    const text = BASE.replace('    profile: gsa-default\n', '    profile: gsa-custom\n    ike: [aes256-sha384-modp2048s256]\n    esp: [aes256gcm16, aes256-sha256]\n');
    expectOne(text, 'aes256-sha256]', 'tunnels.0.esp.1', /aes256-sha256-noesn: GSA's phase-2 rule allows only AES-GCM .* or null-sha256/);
  });

  it('phase 1 (explicit ike:): only what GSA\'s custom policy can name', () => {
    const text = BASE.replace('    profile: gsa-default\n', '    profile: gsa-custom\n    ike: [aes256gcm16-prfsha384-curve25519]\n    esp: [aes256gcm16]\n');
    expectOne(text, 'aes256gcm16-prfsha384-curve25519', 'tunnels.0.ike.0', /GSA offers only .* DH groups modp2048 \(14\), modp2048s256 \(24\), ecp256, ecp384/);
  });

  it('IKE: an AEAD "integrity" next to a CBC cipher, and mismatched GCM sizes', () => {
    const cbc = CUSTOM.replace('ikeIntegrity: sha384', 'ikeIntegrity: gcmAes256');
    expectOne(cbc, 'gcmAes256\n      dhGroup', 'tunnels.0.gsaPolicy.ikeIntegrity', /is an AEAD \(GCM\) name, but ikeEncryption aes256 is AES-CBC/);
    const sizes = CUSTOM.replace('ikeEncryption: aes256', 'ikeEncryption: gcmAes128').replace('ikeIntegrity: sha384', 'ikeIntegrity: gcmAes256');
    expectOne(sizes, 'gcmAes256\n      dhGroup', 'tunnels.0.gsaPolicy.ikeIntegrity', /must name the same GCM key size as ikeEncryption gcmAes128/);
  });

  it('SA lifetime at least 300 s (childLifetime), and 300..86400 in gsaPolicy', () => {
    const text = BASE.replace('    profile: gsa-default\n', '    profile: gsa-default\n    childLifetime: 2m\n');
    expectOne(text, '2m', 'tunnels.0.childLifetime', /GSA requires an SA lifetime of at least 300 seconds \(gsa\.md §2\.3\); got 120/);
    const policy = `${CUSTOM.replace('      pfsGroup: none\n', '      pfsGroup: none\n      saLifeTimeSeconds: 299\n')}`;
    expectOne(policy, '299', 'tunnels.0.gsaPolicy.saLifeTimeSeconds', /must be 300\.\.86400 seconds .*got 299/);
    expect(ok(CUSTOM.replace('      pfsGroup: none\n', '      pfsGroup: none\n      saLifeTimeSeconds: 300\n')).config.tunnels[0]!.childLifetime).toBe(300);
    const both = CUSTOM.replace('      pfsGroup: none\n', '      pfsGroup: none\n      saLifeTimeSeconds: 3600\n    childLifetime: 1h\n');
    expectOne(both, '1h', 'tunnels.0.childLifetime', /saLifeTimeSeconds and childLifetime are both set/);
  });

  it('BGP addresses not in 0.0.0.0/32, 127/8, 224/4, 255.255.255.255/32 (any peer)', () => {
    for (const [bad, what] of [['0.0.0.0', 'unspecified'], ['127.0.0.9', 'loopback'], ['239.1.1.1', 'multicast'], ['255.255.255.255', 'broadcast']]) {
      const text = BASE.replace('    - address: 192.168.1.2', `    - address: ${bad}`);
      expectOne(text, bad!, 'bgp.neighbors.0.address', new RegExp(`${bad!.replace(/\./g, '\\.')} is .*${what}.*BGP addresses may not be in 0\\.0\\.0\\.0/32, 127\\.0\\.0\\.0/8, 224\\.0\\.0\\.0/4 or 255\\.255\\.255\\.255/32`));
    }
    const own = BASE.replace('address: 10.1.0.1', 'address: 127.0.0.1');
    expectOne(own, '127.0.0.1', 'bgp.address', /bgp\.address \(the CPE's "Device BGP address"\): 127\.0\.0\.1 is loopback/);
  });

  it('GSA\'s BGP address not inside the branch LAN, the tunnel\'s localTs, or a local address', () => {
    const lan = BASE.replace('    - address: 192.168.1.2', '    - address: 172.16.9.9');
    expectOne(lan, '172.16.9.9', 'bgp.neighbors.0.address', /172\.16\.9\.9 is inside the branch LAN 172\.16\.0\.0\/16 \(bgp\.advertise\): the CPE would look for it on the LAN \(ARP\)/);
    const ts = BASE.replace('    - address: 192.168.1.2', '    - address: 10.20.0.5').replace('    profile: gsa-default\n', '    profile: gsa-default\n    localTs: [10.20.0.0/16]\n');
    const e = errors(ts);
    expect(e).toContainEqual(expect.objectContaining({ ...posOf(ts, '10.20.0.5'), path: 'bgp.neighbors.0.address', message: expect.stringMatching(/inside the tunnel's localTs 10\.20\.0\.0\/16/) }));
    const local = BASE.replace('    - address: 192.168.1.2', '    - address: 192.0.2.10');
    expectOne(local, '192.0.2.10', 'bgp.neighbors.0.address', /is the tunnel's own localAddress/, 1);
    const same = BASE.replace('    - address: 192.168.1.2', '    - address: 10.1.0.1');
    expectOne(same, '10.1.0.1', 'bgp.neighbors.0.address', /is also bgp\.address: .* must differ/, 1);
  });

  it('Device ASN 1..65534 and not reserved (GSA neighbors only)', () => {
    const big = BASE.replace('asn: 65010', 'asn: 4200000000');
    expectOne(big, '4200000000', 'bgp.asn', /GSA accepts a 2-byte Device ASN, 1\.\.65534 \(gsa\.md §4\.1\); 4200000000 is not one/);
    for (const [asn, why] of [['8075', 'reserved by Azure'], ['65518', 'reserved by Azure'], ['64500', 'reserved by IANA'], ['65476', 'GSA\'s own ASN']]) {
      const text = BASE.replace('asn: 65010', `asn: ${asn}`);
      const e = errors(text).filter((x) => x.path === 'bgp.asn');
      expect(e, asn).toEqual([expect.objectContaining({ ...posOf(text, asn!), message: expect.stringContaining(`Device ASN ${asn} is ${why}`) })]);
    }
    // Not a GSA neighbor (explicit proposals, no gsa marker): a 4-byte ASN is fine.
    const plain = big.replace('    profile: gsa-default\n', '    ike: [aes256gcm16-prfsha384-ecp384]\n    esp: [aes256gcm16]\n');
    expect(ok(plain).config.bgp!.asn).toBe(4200000000);
  });

  it('CPE ASN different from the neighbor\'s; unusable ASNs for anyone', () => {
    const same = BASE.replace('asn: 65476', 'asn: 65010');
    expectOne(same, '65010', 'bgp.neighbors.0.asn', /must differ from bgp\.asn \(65010\): branchgate runs eBGP only, and GSA requires different ASNs/, 1);
    const trans = BASE.replace('asn: 65476', 'asn: 23456');
    expectOne(trans, '23456', 'bgp.neighbors.0.asn', /23456 is AS_TRANS \(RFC 6793\)/);
  });

  it('gsa-default means PFS None; gsaPolicy needs gsa-custom; gsa-custom needs a policy; pfs1/pfs2 refused', () => {
    const pfs = BASE.replace('    profile: gsa-default\n', '    profile: gsa-default\n    pfs: ecp256\n');
    expectOne(pfs, 'ecp256', 'tunnels.0.pfs', /GSA's Default policy has PFS group None \(gsa\.md §2\.2\)/);
    const stray = CUSTOM.replace('profile: gsa-custom', 'profile: gsa-default');
    expectOne(stray, 'ikeEncryption', 'tunnels.0.gsaPolicy', /needs profile: gsa-custom/);
    const none = BASE.replace('profile: gsa-default', 'profile: gsa-custom');
    expectOne(none, 'gsa-custom', 'tunnels.0.profile', /profile gsa-custom needs gsaPolicy: .* or explicit ike: and esp: lists/);
    const weak = CUSTOM.replace('pfsGroup: none', 'pfsGroup: PFS2');
    expectOne(weak, 'PFS2', 'tunnels.0.gsaPolicy.pfsGroup', /pfs2 is MODP group 2 .* RFC 8247 §2\.4/);
  });

  it('a tunnel to a gsaEndpoint must initiate (GSA only responds)', () => {
    const text = `gsa:\n  connectivityConfiguration: {links: [{localConfigurations: [{endpoint: 20.245.111.21, asn: 65476, bgpAddress: 192.168.1.2}]}]}\n${BASE.replace('    remoteAddress: 20.245.111.21\n', '    gsaEndpoint: 0\n    initiate: false\n')}`;
    expect(errors(text)).toContainEqual(expect.objectContaining({ ...posOf(text, 'false'), path: 'tunnels.0.initiate', message: expect.stringMatching(/GSA only responds, the CPE must initiate/) }));
  });

  it('acceptCoveringEndpoint needs the underlay pins', () => {
    const text = `${BASE.replace('  advertise:', '  acceptCoveringEndpoint: true\n  advertise:')}routing:\n  pinUnderlay: false\n`;
    expectOne(text, 'true', 'bgp.acceptCoveringEndpoint', /needs routing\.pinUnderlay: true/);
  });

  it('warnings, not errors: GSA ASN other than 65476, public GSA BGP address, narrowed selectors, DPD off, GCM PRF', () => {
    const text = BASE.replace('asn: 65476', 'asn: 65001').replace('- address: 192.168.1.2', '- address: 20.1.2.3')
      .replace('    profile: gsa-default\n', '    profile: gsa-default\n    remoteTs: [40.96.0.0/13]\n    dpd: 0\n');
    const w = ok(text).warnings.map((x) => `${x.path}: ${x.message}`);
    expect(w).toEqual([
      expect.stringMatching(/^tunnels\.0\.remoteTs: GSA tunnels are route-based with 0\.0\.0\.0\/0 selectors/),
      expect.stringMatching(/^tunnels\.0\.dpd: GSA cannot re-initiate/),
      expect.stringMatching(/^bgp\.neighbors\.0\.address: GSA's "Local BGP address" is meant to be a private address/),
      expect.stringMatching(/^bgp\.neighbors\.0\.asn: GSA's ASN has been 65476/),
    ]);
    const gcm = CUSTOM.replace('ikeEncryption: aes256', 'ikeEncryption: gcmAes256').replace('ikeIntegrity: sha384', 'ikeIntegrity: gcmAes256');
    expect(ok(gcm).warnings.map((x) => x.path)).toEqual(['tunnels.0.gsaPolicy.ikeIntegrity']);
  });

  it('GSA rules leave other peers alone: a responder emulating GSA, explicit proposals', () => {
    const responder = BASE.replace('    remoteAddress: 20.245.111.21\n', '    remoteAddress: "%any"\n    initiate: false\n    childLifetime: 60\n    pfs: ecp256\n');
    expect(ok(responder).config.tunnels[0]!.initiate).toBe(false);
  });
});

describe('custom-policy names → IKEv2 transforms (gsa.md §2.4)', () => {
  const policy = (p: Record<string, string>) => {
    const lines = Object.entries(p).map(([k, v]) => `      ${k}: ${v}`).join('\n');
    const text = BASE.replace('    profile: gsa-default\n', `    profile: gsa-custom\n    gsaPolicy:\n${lines}\n`);
    return ok(text).config.tunnels[0]!;
  };
  const ids = (p: { transforms: { type: number; id: number; keyLength?: number }[] }) => p.transforms.map((t) => [t.type, t.id, t.keyLength ?? 0]);

  it('CBC + SHA, GCM + SHA, DH and PFS names, any case, PFSMM = the IKE SA\'s group', () => {
    const t = policy({ ikeEncryption: 'AES128', ikeIntegrity: 'SHA256', dhGroup: 'DHGroup14', ipSecEncryption: 'GCMAES128', ipSecIntegrity: 'GCMAES128', pfsGroup: 'PFSMM' });
    // ENCR_AES_CBC/128, PRF_HMAC_SHA2_256, AUTH_HMAC_SHA2_256_128, MODP 2048 (14)
    expect(ids(t.ikeProposals[0]!)).toEqual([[1, 12, 128], [2, 5, 0], [3, 12, 0], [4, 14, 0]]);
    // ESP ENCR_AES_GCM_16/128, no ESN
    expect(ids(t.espProposals[0]!)).toEqual([[1, 20, 128], [5, 0, 0]]);
    expect(t.pfs).toEqual({ kind: 'same' });
    const g = policy({ ikeEncryption: 'gcmAes256', ikeIntegrity: 'sha384', dhGroup: 'dhGroup24', ipSecEncryption: 'none', ipSecIntegrity: 'sha256', pfsGroup: 'pfs2048' });
    expect(ids(g.ikeProposals[0]!)).toEqual([[1, 20, 256], [2, 6, 0], [4, 24, 0]]);
    expect(ids(g.espProposals[0]!)).toEqual([[1, 11, 0], [3, 12, 0], [5, 0, 0]]);
    expect(g.pfs).toEqual({ kind: 'group', group: 14 });
    expect(policy({ ikeEncryption: 'aes192', ikeIntegrity: 'sha384', dhGroup: 'ecp256', ipSecEncryption: 'gcmAes192', ipSecIntegrity: 'gcmAes192', pfsGroup: 'ecp384' }).pfs).toEqual({ kind: 'group', group: 20 });
  });

  it('unknown names list the valid ones', () => {
    const text = CUSTOM.replace('dhGroup: dhGroup24', 'dhGroup: modp2048');
    expectOne(text, 'modp2048', 'tunnels.0.gsaPolicy.dhGroup', /"modp2048" is not a GSA dhGroup value; use one of: dhGroup14, dhGroup24, dhGroup2048, ecp256, ecp384/);
  });
});

describe('gsa.connectivityConfiguration', () => {
  const JSON_TEXT = readFileSync(join(CONFIG_DIR, 'gsa-zone-redundant.connectivity.json'), 'utf8');
  const TUNNELS = `tunnels:
  - name: gsa-zone1
    gsaEndpoint: 0
    localAddress: 192.0.2.10
    pskEnv: GSA_PSK
    profile: gsa-default
    dpd: 10s
    interface: bg0
  - name: gsa-zone2
    gsaEndpoint: 1
    localAddress: 192.0.2.10
    pskEnv: GSA_ZONE_PSK
    profile: gsa-default
    dpd: 10s
    interface: bg1
bgp:
  advertise: [10.1.0.0/16]
  multipath: true
`;
  const reference = () => {
    const r = parseConfig(readFileSync(join(CONFIG_DIR, 'gsa-zone-redundant.yaml'), 'utf8'), join(CONFIG_DIR, 'gsa-zone-redundant.yaml'), ENV);
    if (!r.ok) throw new Error('reference must load');
    return r.config;
  };
  const block = (json: string) => `gsa:\n  connectivityConfiguration: |\n${json.trimEnd().split('\n').map((l) => `    ${l}`).join('\n')}\n${TUNNELS}`;

  it('pasted as a | block, or as a YAML/JSON mapping: the same Config as written by hand', () => {
    expect(ok(block(JSON_TEXT)).config).toEqual(reference());
    expect(ok(`gsa:\n  connectivityConfiguration: ${JSON.stringify(JSON.parse(JSON_TEXT))}\n${TUNNELS}`).config).toEqual(reference());
  });

  it('errors inside a pasted block point at the YAML line and column of the JSON value', () => {
    const bad = JSON_TEXT.replace('"asn": 65533', '"asn": 65476');
    const text = block(bad);
    const e = errors(text);
    expect(e).toContainEqual(expect.objectContaining({
      file: 'gsa.yaml', ...posOf(text, '65476, "bgpAddress": "10.0.2.5"'), path: 'links.0.peerConfiguration.asn',
      message: expect.stringMatching(/^Device ASN 65476 is GSA's own ASN/),
    }));
    // …and both neighbors now have the CPE's ASN: reported at their own JSON values.
    expect(e.filter((x) => /must differ from bgp\.asn/.test(x.message)).map((x) => [x.line, x.path])).toEqual([
      [posOf(text, '65476, "bgpAddress": "192.168.1.2"').line, 'links.0.localConfigurations.0.asn'],
      [posOf(text, '65476, "bgpAddress": "192.168.1.3"').line, 'links.0.localConfigurations.1.asn'],
    ]);
  });

  it('errors in a JSON file point into that file; a generated BGP address still meets every rule', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bgt-gsa-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const json = JSON_TEXT.replace('"bgpAddress": "192.168.1.3"', '"bgpAddress": "10.1.7.7"').replace('"asn": 65476, "bgpAddress": "192.168.1.2"', '"asn": "65476", "bgpAddress": "192.168.1.2"');
    writeFileSync(join(dir, 'c.json'), json);
    const text = `gsa:\n  connectivityConfiguration: c.json\n${TUNNELS}`;
    const e = errors(text, join(dir, 'gsa.yaml')).map(formatIssue);
    expect(e).toEqual([
      `${join(dir, 'c.json')}:${posOf(json, '"65476"').line}:${posOf(json, '"65476"').col}: links.0.localConfigurations.0.asn: asn: expected GSA's ASN, a whole number (65476 in every published example)`,
      expect.stringMatching(new RegExp(`^${join(dir, 'c.json')}:${posOf(json, '"10.1.7.7"').line}:${posOf(json, '"10.1.7.7"').col}: links\\.0\\.localConfigurations\\.1\\.bgpAddress: 10\\.1\\.7\\.7 is inside the branch LAN 10\\.1\\.0\\.0/16`)),
    ]);
    const missing = errors(`gsa:\n  connectivityConfiguration: nope.json\n${TUNNELS}`, join(dir, 'gsa.yaml'));
    expect(missing[0]).toMatchObject({ line: 2, col: 30, path: 'gsa.connectivityConfiguration', message: expect.stringMatching(/cannot read .*nope\.json: no such file/) });
  });

  it('YAML values must agree with the JSON; links are chosen by gsa.link; indices are checked', () => {
    const stale = block(JSON_TEXT).replace('    gsaEndpoint: 0\n', '    gsaEndpoint: 0\n    remoteAddress: 20.245.111.99\n');
    expectOne(stale, '20.245.111.99', 'tunnels.0.remoteAddress', /the connectivityConfiguration says this endpoint is "20\.245\.111\.21" \(links\.0\.localConfigurations\.0\.endpoint\): remove remoteAddress here or make it match/);
    const asn = block(JSON_TEXT).replace('  advertise: [10.1.0.0/16]\n', '  asn: 65010\n  advertise: [10.1.0.0/16]\n');
    expectOne(asn, '65010', 'bgp.asn', /says the Device ASN is 65533/);
    const link = block(JSON_TEXT).replace('gsa:\n', 'gsa:\n  link: other\n');
    expectOne(link, 'other', 'gsa.link', /no link "other" in the connectivityConfiguration; its links are: "branch-west-cpe"/);
    const index = block(JSON_TEXT).replace('gsaEndpoint: 1', 'gsaEndpoint: 7');
    const key = posOf(index, 'gsaEndpoint: 7');
    expect(errors(index)).toEqual([expect.objectContaining({ line: key.line, col: key.col + 'gsaEndpoint: '.length,
      path: 'tunnels.1.gsaEndpoint', message: expect.stringMatching(/the link has 2 localConfigurations entries: gsaEndpoint is 0\.\.1/) })]);
    const orphan = TUNNELS.replace('    gsaEndpoint: 1\n', '    gsaEndpoint: 1\n    remoteAddress: 20.245.111.77\n');
    // gsaEndpoint without a gsa: section
    expect(errors(orphan).filter((x) => x.path.endsWith('gsaEndpoint'))).toEqual([0, 1].map((i) => expect.objectContaining({
      line: posOf(orphan, `gsaEndpoint: ${i}`).line, col: posOf(orphan, `gsaEndpoint: ${i}`).col + 'gsaEndpoint: '.length, path: `tunnels.${i}.gsaEndpoint`, message: expect.stringMatching(/needs a gsa: section with connectivityConfiguration/),
    })));
  });
});
