/**
 * GSA checks end to end through the command line (`branchgate check-config FILE`,
 * src/cli.ts main): every shipped example passes with exit 0, and every GSA rule docs/gsa.md §4 lists
 * is rejected with exit 2 and one `FILE:LINE:COL: path: message` line whose position is the
 * offending value and whose message names the field and the rule. gsa.test.ts has the same rules
 * one by one at the parser level; here each rule is a row, and all rows at once in one file show
 * that no violation hides another.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';

const CONFIG_DIR = join(import.meta.dirname, '../../../config');
const ENV = { GSA_PSK: 'example-psk-zone-1-5f0c2a', GSA_ZONE_PSK: 'example-psk-zone-2-9d41be' };

async function checkConfig(file: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['check-config', file], { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: ENV });
  return { code, out, err };
}

/** A valid GSA device link (Custom policy, so phase-1/phase-2 rows can change one field). */
const BASE = `tunnels:
  - name: gsa
    localAddress: 192.0.2.10
    remoteAddress: 20.245.111.21
    pskEnv: GSA_PSK
    profile: gsa-custom
    ike: [aes256-sha384-modp2048s256]
    esp: [aes256gcm16]
    childLifetime: 1h
    localTs: [0.0.0.0/0]
bgp:
  asn: 65010
  address: 10.1.0.1
  advertise: [172.16.0.0/16]
  neighbors:
    - address: 192.168.1.2
      asn: 65476
      tunnel: gsa
`;

interface Row {
  rule: string;
  /** [search, replace] applied to BASE; the error must sit at the first character of `at`. */
  edit: [string, string];
  at: string;
  path: string;
  message: RegExp;
  /** Further errors the same edit causes by itself (default none). */
  also?: string[];
}

const ROWS: Row[] = [
  { rule: 'phase 2: GCM only, or NULL + SHA256', edit: ['esp: [aes256gcm16]', 'esp: [aes256-sha256]'], at: 'aes256-sha256]', path: 'tunnels.0.esp.0',
    message: /GSA's phase-2 rule allows only AES-GCM .* or null-sha256/ },
  { rule: 'SA lifetime ≥ 300 s', edit: ['childLifetime: 1h', 'childLifetime: 299'], at: '299', path: 'tunnels.0.childLifetime',
    message: /GSA requires an SA lifetime of at least 300 seconds/ },
  { rule: 'BGP address not 0.0.0.0/32', edit: ['- address: 192.168.1.2', '- address: 0.0.0.0'], at: '0.0.0.0\n', path: 'bgp.neighbors.0.address',
    message: /0\.0\.0\.0 is the unspecified address .*BGP addresses may not be in 0\.0\.0\.0\/32, 127\.0\.0\.0\/8, 224\.0\.0\.0\/4 or 255\.255\.255\.255\/32/ },
  { rule: 'BGP address not in 127/8', edit: ['address: 10.1.0.1', 'address: 127.0.0.1'], at: '127.0.0.1', path: 'bgp.address',
    message: /bgp\.address \(the CPE's "Device BGP address"\): 127\.0\.0\.1 is loopback/ },
  { rule: 'BGP address not in 224/4', edit: ['- address: 192.168.1.2', '- address: 224.0.0.5'], at: '224.0.0.5', path: 'bgp.neighbors.0.address',
    message: /224\.0\.0\.5 is multicast \(224\.0\.0\.0\/4\)/ },
  { rule: 'BGP address not 255.255.255.255', edit: ['- address: 192.168.1.2', '- address: 255.255.255.255'], at: '255.255.255.255', path: 'bgp.neighbors.0.address',
    message: /is the broadcast address/ },
  { rule: 'GSA BGP address not inside the LAN', edit: ['- address: 192.168.1.2', '- address: 172.16.1.1'], at: '172.16.1.1', path: 'bgp.neighbors.0.address',
    message: /inside the branch LAN 172\.16\.0\.0\/16 \(bgp\.advertise\): the CPE would look for it on the LAN \(ARP\)/ },
  { rule: 'GSA BGP address not a connected (local) address', edit: ['- address: 192.168.1.2', '- address: 192.0.2.10'], at: '192.0.2.10\n      asn', path: 'bgp.neighbors.0.address',
    message: /is the tunnel's own localAddress/ },
  { rule: 'GSA BGP address ≠ Device BGP address', edit: ['- address: 192.168.1.2', '- address: 10.1.0.1'], at: '10.1.0.1\n      asn', path: 'bgp.neighbors.0.address',
    message: /is also bgp\.address: .*must differ/ },
  { rule: 'Device ASN 1..65534', edit: ['asn: 65010', 'asn: 70000'], at: '70000', path: 'bgp.asn',
    message: /GSA accepts a 2-byte Device ASN, 1\.\.65534/ },
  { rule: 'Device ASN not reserved (Azure)', edit: ['asn: 65010', 'asn: 12076'], at: '12076', path: 'bgp.asn',
    message: /Device ASN 12076 is reserved by Azure/ },
  { rule: 'Device ASN not reserved (IANA)', edit: ['asn: 65010', 'asn: 64511'], at: '64511', path: 'bgp.asn',
    message: /Device ASN 64511 is reserved by IANA/ },
  { rule: 'Device ASN not GSA\'s own', edit: ['asn: 65010', 'asn: 65476'], at: '65476\n  address', path: 'bgp.asn',
    message: /Device ASN 65476 is GSA's own ASN/, also: ['bgp.neighbors.0.asn'] },
  { rule: 'CPE ASN ≠ peer ASN', edit: ['asn: 65476', 'asn: 65010'], at: '65010\n      tunnel', path: 'bgp.neighbors.0.asn',
    message: /the neighbor's ASN must differ from bgp\.asn \(65010\)/ },
  { rule: 'IKE proposal: no AEAD mixed with integrity', edit: ['ike: [aes256-sha384-modp2048s256]', 'ike: [aes256gcm16-sha384-prfsha384-modp2048s256]'],
    at: 'aes256gcm16-sha384', path: 'tunnels.0.ike.0', message: /AEAD cipher aes256gcm16 must not be combined with integrity algorithm sha384/ },
  { rule: 'ESP proposal: no AEAD mixed with integrity', edit: ['esp: [aes256gcm16]', 'esp: [aes256gcm16-sha256]'],
    at: 'aes256gcm16-sha256', path: 'tunnels.0.esp.0', message: /AEAD cipher aes256gcm16 must not be combined with integrity algorithm sha256/ },
  { rule: 'IKE proposal: a CBC cipher needs integrity', edit: ['ike: [aes256-sha384-modp2048s256]', 'ike: [aes256-prfsha384-modp2048s256]'],
    at: 'aes256-prfsha384', path: 'tunnels.0.ike.0', message: /non-AEAD cipher aes256 needs an integrity algorithm/ },
];

function pos(text: string, needle: string): string {
  const at = text.indexOf(needle);
  if (at < 0) throw new Error(`${JSON.stringify(needle)} not found`);
  const lines = text.slice(0, at).split('\n');
  return `${lines.length}:${lines[lines.length - 1]!.length + 1}`;
}

describe('check-config on the shipped examples', () => {
  it('every config/*.yaml passes (exit 0, "ok")', async () => {
    const files = readdirSync(CONFIG_DIR).filter((f) => f.endsWith('.yaml'));
    expect(files).toEqual(expect.arrayContaining(['gsa-default.yaml', 'gsa-custom.yaml', 'gsa-zone-redundant.yaml']));
    for (const f of files) {
      const r = await checkConfig(join(CONFIG_DIR, f));
      expect({ f, code: r.code, err: r.err }).toEqual({ f, code: 0, err: '' });
      expect(r.out).toMatch(/: ok \(\d tunnels?\)\n$/);
    }
  });
});

describe('check-config rejects each GSA rule violation at the offending value', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-gsa-cc-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the base device link is valid', async () => {
    const f = join(dir, 'base.yaml');
    writeFileSync(f, BASE);
    expect(await checkConfig(f)).toMatchObject({ code: 0, err: '' });
  });

  for (const row of ROWS) {
    it(row.rule, async () => {
      const text = BASE.replace(row.edit[0], row.edit[1]);
      expect(text, 'the edit applies').not.toBe(BASE);
      const f = join(dir, `${row.path}.yaml`);
      writeFileSync(f, text);
      const r = await checkConfig(f);
      expect(r.code, r.err).toBe(2);
      const lines = r.err.trimEnd().split('\n');
      expect(lines.map((l) => l.split(': ')[1]).sort(), r.err).toEqual([row.path, ...(row.also ?? [])].sort());
      const prefix = `${f}:${pos(text, row.at)}: ${row.path}: `;
      const line = lines.find((l) => l.includes(`: ${row.path}: `))!;
      expect(line.startsWith(prefix), `${line}\n  expected to start with ${prefix}`).toBe(true);
      expect(line.slice(prefix.length)).toMatch(row.message);
    });
  }

  it('all violations in one file: each reported once, in file order, none hiding another', async () => {
    // rows that edit different lines and do not conflict with each other
    const pick = ['phase 2: GCM only, or NULL + SHA256', 'SA lifetime ≥ 300 s', 'BGP address not in 127/8', 'Device ASN not reserved (IANA)', 'GSA BGP address not inside the LAN',
      'IKE proposal: a CBC cipher needs integrity'];
    const rows = ROWS.filter((r) => pick.includes(r.rule));
    expect(rows).toHaveLength(pick.length);
    let text = BASE;
    for (const r of rows) text = text.replace(r.edit[0], r.edit[1]);
    const f = join(dir, 'all.yaml');
    writeFileSync(f, text);
    const r = await checkConfig(f);
    expect(r.code).toBe(2);
    const lines = r.err.trimEnd().split('\n');
    expect(lines.map((l) => l.split(': ')[1]).sort()).toEqual(rows.map((x) => x.path).sort());
    for (const row of rows) expect(r.err).toContain(`${f}:${pos(text, row.at)}: ${row.path}: `);
    const order = lines.map((l) => Number(/:(\d+):\d+: /.exec(l)?.[1]));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });
});
