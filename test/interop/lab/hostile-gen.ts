/**
 * What the hostile-traffic harness sends: a pool of blast records in twelve categories, built from
 * the captured corpus (test/fixtures/captured), the live tunnel's inbound SPI and ESP captured
 * from the live tunnel, shuffled (seeded) so the categories interleave. blast sends the pool round
 * and round; with COUNT a multiple of the pool size every category is sent in its exact share.
 */
import fc from 'fast-check';
import { decodeMessage, encodeMessage, type MessageHeaderFields } from '../../../src/ike/codec/message.js';
import type { Payload } from '../../../src/ike/codec/types.js';
import { createKeyExchange } from '../../../src/ike/crypto/dh.js';
import { NotifyType, PayloadType } from '../../../src/ike/constants.js';
import { ikeMessages } from '../../unit/fuzz/corpus.js';
import { applyIke, fixLength, ikeMutations } from '../../unit/fuzz/mutate.js';
import { RANDOM_SOURCE, RANDOM_SPI, RANDOM_SPORT, type BlastRecord } from './hostile-blast.js';

/** Datagrams per category in a run of 1,000,000, and the reason each is expected to be dropped under. */
export const MIX = {
  'esp-wrong-spi': { perMillion: 200_000, expect: 'unknown SPI' },
  'esp-bad-icv': { perMillion: 150_000, expect: 'ICV (live SPI, sequence numbers above the window)' },
  'esp-replay': { perMillion: 100_000, expect: 'replay (live ESP captured by tcpdump, sent again)' },
  'esp-truncated': { perMillion: 40_000, expect: 'too short (live SPI, 8–33 octets)' },
  'esp-seq-zero': { perMillion: 10_000, expect: 'sequence number 0 (RFC 4303 §3.3.3)' },
  'esp-oversize': { perMillion: 5_000, expect: 'ICV or oversize (1.6–6 KB, IPv4 fragments)' },
  'ike-mutated': { perMillion: 250_000, expect: 'malformed / no SA / integrity (captured messages, mutated)' },
  'ike-init-flood': { perMillion: 150_000, expect: 'cookie / half-open / rate limits (fresh IKE_SA_INITs, spoofed sources)' },
  'ike-unknown-exchange': { perMillion: 40_000, expect: 'no SA / unexpected (exchange types outside 34–37, 43)' },
  'ike-bad-length': { perMillion: 30_000, expect: 'malformed (header Length wrong)' },
  'ike-truncated': { perMillion: 20_000, expect: 'malformed (0–27 octets)' },
  'ike-oversize': { perMillion: 5_000, expect: 'malformed / no SA (1.6–8 KB, IPv4 fragments)' },
} as const;

export type Category = keyof typeof MIX;

export interface GenInput {
  /** The daemon's WAN address (destination of everything). */
  cpe: string;
  /** The real peer (source of the replays). */
  peer: string;
  /** Our inbound SPI of the live Child SA. */
  liveSpi: number;
  /** ESP datagrams (UDP payloads) captured from the live tunnel towards the daemon. */
  replays: Uint8Array[];
  /** Pool records per 1,000,000 datagrams, e.g. 20 for a pool of 50,000. */
  divisor: number;
  seed: number;
}

export interface Generated {
  records: BlastRecord[];
  /** Records per category in the pool. */
  pool: Record<Category, number>;
  /** Which category each record belongs to (parallel to records). */
  categoryOf: Category[];
}

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/**
 * Fresh IKE_SA_INIT requests: strongSwan's plain request from the corpus (SA with
 * aes256gcm16-prfsha256-ecp256 first, KE ecp256, NAT-D, fragmentation and hash notifies), each
 * with a new nonce and a new KE public value; blast adds a fresh SPI (and source) per send.
 */
function initBuilder(bytes: (n: number) => Uint8Array): () => Uint8Array {
  const initTemplate = ikeMessages().find((d) => d.label === 'IKE_SA_INIT-request' && d.file === 'strongswan-gcm.txt' && d.src.address === '192.0.2.1');
  if (!initTemplate) throw new Error('corpus: no plain IKE_SA_INIT request from strongswan-gcm.txt');
  const tmpl = decodeMessage(initTemplate.ike);
  if (!tmpl.ok) throw tmpl.error;
  const { nextPayload: _n, length: _l, ...tmplHeader } = tmpl.value.header;
  return () => {
    const payloads: Payload[] = tmpl.value.payloads.map((p) => {
      if (p.type === PayloadType.NONCE) return { ...p, data: bytes(32) };
      if (p.type === PayloadType.KE) return { ...p, data: createKeyExchange(p.group).publicValue };
      return p;
    }).filter((p) => !(p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.COOKIE));
    return encodeMessage(tmplHeader as MessageHeaderFields, payloads);
  };
}

/** `n` fresh IKE_SA_INITs to cpe:500 from the spoofed pool, each sent with a fresh SPI and source. */
export function initFloodRecords(cpe: string, n: number, seed: number): BlastRecord[] {
  const r = rng(seed);
  const fresh = initBuilder((k) => Uint8Array.from({ length: k }, () => r() & 0xff));
  return Array.from({ length: n }, () => ({ src: '0.0.0.0', sport: 0, dst: cpe, dport: 500, flags: RANDOM_SOURCE | RANDOM_SPORT | RANDOM_SPI, spiOffset: 0, payload: fresh() }));
}

export function generate(input: GenInput): Generated {
  const r = rng(input.seed);
  const int = (lo: number, hi: number): number => lo + (r() % (hi - lo + 1));
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => r() & 0xff);
  const u32 = (v: number): Uint8Array => Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));
  const MARKER = new Uint8Array(4);
  const corpus = ikeMessages();
  const pool = corpus.map((d) => d.ike);
  const spoofed = (payload: Uint8Array, dport: number, extra = 0, spiOffset = 0): BlastRecord => ({
    src: '0.0.0.0', sport: 0, dst: input.cpe, dport, flags: RANDOM_SOURCE | RANDOM_SPORT | extra, spiOffset, payload,
  });
  /** An IKE message to the port its original used (4500 with the non-ESP marker). */
  const ike = (orig: { dst: { port: number } }, m: Uint8Array, extra = 0): BlastRecord =>
    orig.dst.port === 4500 ? spoofed(cat(MARKER, m), 4500, extra, 4) : spoofed(m, 500, extra, 0);
  const esp = (spi: number, seq: number, body: Uint8Array): Uint8Array => cat(u32(spi), u32(seq), body);

  const freshInit = initBuilder(bytes);

  const plans = fc.sample(ikeMutations, { seed: input.seed, numRuns: Math.ceil(MIX['ike-mutated'].perMillion / input.divisor) });
  const UNKNOWN_EXCHANGES = [0, 1, 2, 4, 5, 32, 33, 38, 39, 40, 41, 42, 44, 100, 200, 240, 255];
  const make: Record<Category, (i: number) => BlastRecord> = {
    'esp-wrong-spi': () => spoofed(esp(0, 0, bytes(int(32, 200))), 4500, RANDOM_SPI, 0),
    'esp-bad-icv': () => spoofed(esp(input.liveSpi, 0x8000_0000 + (r() >>> 1), bytes(int(48, 400))), 4500),
    'esp-replay': (i) => ({ src: input.peer, sport: 4500, dst: input.cpe, dport: 4500, flags: 0, spiOffset: 0, payload: input.replays[i % input.replays.length]! }),
    'esp-truncated': () => spoofed(esp(input.liveSpi, int(1, 0x7fff_ffff), bytes(int(0, 25))), 4500),
    'esp-seq-zero': () => spoofed(esp(input.liveSpi, 0, bytes(int(60, 200))), 4500),
    'esp-oversize': () => spoofed(esp(input.liveSpi, 0x8000_0000 + (r() >>> 1), bytes(int(1600, 6000))), 4500),
    'ike-mutated': (i) => {
      const d = corpus[r() % corpus.length]!;
      return ike(d, applyIke(d.ike, plans[i % plans.length]!, pool));
    },
    'ike-init-flood': () => spoofed(freshInit(), 500, RANDOM_SPI, 0),
    'ike-unknown-exchange': () => {
      const d = corpus[r() % corpus.length]!;
      const m = d.ike.slice();
      m[18] = UNKNOWN_EXCHANGES[r() % UNKNOWN_EXCHANGES.length]!;
      return ike(d, m, RANDOM_SPI);
    },
    'ike-bad-length': () => {
      const d = corpus[r() % corpus.length]!;
      const m = d.ike.slice();
      const wrong = [0, 1, 27, m.length - 1, m.length + 1, 0xffff_ffff, r()][r() % 7]!;
      new DataView(m.buffer).setUint32(24, wrong === m.length ? m.length + 2 : wrong >>> 0);
      return ike(d, m);
    },
    'ike-truncated': () => {
      const d = corpus[r() % corpus.length]!;
      return ike(d, d.ike.slice(0, int(0, 27)));
    },
    'ike-oversize': () => {
      const d = corpus[r() % corpus.length]!;
      const big = cat(d.ike, bytes(int(1600, 8000) - d.ike.length));
      return ike(d, r() % 2 ? fixLength(big) : big);
    },
  };

  const records: BlastRecord[] = [];
  const categoryOf: Category[] = [];
  const counts = {} as Record<Category, number>;
  for (const c of Object.keys(MIX) as Category[]) {
    const n = Math.round(MIX[c].perMillion / input.divisor);
    counts[c] = n;
    for (let i = 0; i < n; i++) {
      records.push(make[c](i));
      categoryOf.push(c);
    }
  }
  // seeded Fisher–Yates, records and categories together
  for (let i = records.length - 1; i > 0; i--) {
    const j = r() % (i + 1);
    [records[i], records[j]] = [records[j]!, records[i]!];
    [categoryOf[i], categoryOf[j]] = [categoryOf[j]!, categoryOf[i]!];
  }
  return { records, pool: counts, categoryOf };
}
