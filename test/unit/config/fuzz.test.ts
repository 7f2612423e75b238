import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parse as parseYaml, stringify } from 'yaml';
import { parseConfig, type ConfigIssue } from '../../../src/config/load.js';

const VALID = `log:
  level: debug
control:
  metrics: 127.0.0.1:9477
tunnels:
  - name: gsa-primary
    localAddress: 192.0.2.10
    remoteAddress: 20.245.111.21
    localId: fqdn:branch.example
    remoteId: "%any"
    psk: "fuzz-psk-value-00"
    ike: [aes256gcm16-prfsha384-modp2048s256, aes256-sha384-modp2048]
    esp: [aes256gcm16, null-sha256]
    ikeLifetime: 8h
    childLifetime: 3600
    pfs: same
    natT: force
    dpd: 0
    localTs: [10.1.0.0/16]
    remoteTs: [0.0.0.0/0]
    mtu: 1400
    routes: [13.107.6.152/31]
  - name: standby
    localAddress: 192.0.2.10
    remoteAddress: 20.245.111.22
    pskEnv: FUZZ_PSK
    profile: gsa-default
routing:
  failMode: closed
bgp:
  asn: 65010
  address: 10.1.0.1
  advertise: [172.16.0.0/16]
  neighbors:
    - { address: 192.168.1.2, asn: 65476, tunnel: gsa-primary }
`;
const ENV = { FUZZ_PSK: 'fuzz-env-psk-value' };
/** FUZZ_RUNS=100000 for a longer hunt; the default keeps the unit suite fast. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);

/** The result is well-formed: ok with a config, or errors that each point inside the text. */
function checkResult(text: string): void {
  let r: ReturnType<typeof parseConfig> | undefined;
  expect(() => { r = parseConfig(text, 'fuzz.yaml', ENV); }).not.toThrow();
  if (!r) return;
  const lines = text.split('\n').length;
  const inside = (i: ConfigIssue) => {
    expect(i.file).toBe('fuzz.yaml');
    expect(i.line).toBeGreaterThanOrEqual(1);
    expect(i.line).toBeLessThanOrEqual(lines + 1);
    expect(i.col).toBeGreaterThanOrEqual(1);
    expect(typeof i.message).toBe('string');
    expect(i.message.length).toBeGreaterThan(0);
  };
  if (r.ok) {
    r.warnings.forEach(inside);
    expect(r.config.tunnels.every((t) => t.psk.length > 0 && t.ikeProposals.length > 0)).toBe(true);
  } else {
    expect(r.errors.length).toBeGreaterThan(0);
    r.errors.forEach(inside);
    // parseConfig's catch-all turns exceptions into this message; inputs here must never need it
    expect(r.errors.map((e) => e.message).join('\n')).not.toContain('cannot read this config');
  }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), s: fc.string({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('insertSyntax' as const), at: fc.nat(), s: fc.constantFrom(':', '- ', '[', ']', '{', '"', "'", '#', '&a ', '*a', '!!str ', '\t', '\n', '  ', '%', '?', '|', '>') }),
  fc.record({ kind: fc.constant('swapLines' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant('dupLine' as const), a: fc.nat() }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(text: string, ms: Mutation[]): string {
  let t = text;
  for (const m of ms) {
    if (m.kind === 'delete') { const at = m.at % (t.length + 1); t = t.slice(0, at) + t.slice(at + m.len); }
    else if (m.kind === 'insert' || m.kind === 'insertSyntax') { const at = m.at % (t.length + 1); t = t.slice(0, at) + m.s + t.slice(at); }
    else {
      const lines = t.split('\n');
      const a = m.a % lines.length;
      if (m.kind === 'dupLine') lines.splice(a, 0, lines[a]!);
      else { const b = m.b % lines.length; [lines[a], lines[b]] = [lines[b]!, lines[a]!]; }
      t = lines.join('\n');
    }
  }
  return t;
}

describe('parseConfig never throws', () => {
  // 4-10 s alone on the 2-core build machine; over 20 s while interop tests share the cores.
  const PROPERTY_TIMEOUT_MS = 90_000;

  it('the fuzz seed is valid', () => {
    const r = parseConfig(VALID, 'fuzz.yaml', ENV);
    expect(r.ok ? [] : r.errors).toEqual([]);
  });

  it('property: arbitrary strings', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 400 }), checkResult), { numRuns: RUNS / 2 });
  }, PROPERTY_TIMEOUT_MS);

  it('property: mutated valid YAML', () => {
    fc.assert(fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => checkResult(mutate(VALID, ms))), { numRuns: RUNS });
  }, PROPERTY_TIMEOUT_MS);

  it('property: valid structure with one value replaced by anything', () => {
    const doc = parseYaml(VALID) as Record<string, unknown>;
    const paths: (string | number)[][] = [];
    const walk = (v: unknown, p: (string | number)[]) => {
      paths.push(p);
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
    };
    walk(doc, []);
    fc.assert(
      fc.property(fc.constantFrom(...paths.filter((p) => p.length > 0)), fc.jsonValue({ maxDepth: 2 }), (path, value) => {
        const copy = structuredClone(doc);
        let o: any = copy;
        for (const k of path.slice(0, -1)) o = o[k];
        o[path[path.length - 1]!] = value;
        checkResult(stringify(copy));
      }),
      { numRuns: RUNS },
    );
  }, PROPERTY_TIMEOUT_MS);
});
