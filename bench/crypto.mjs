/**
 * Crypto hot path: ESP seal and open per packet at 64, 512, 1400 and 8900 octets of inner packet,
 * AES-256-GCM-16, for
 *   - @noble/ciphers (pure JS; a full ESP packet: payload + trailer, AAD = SPI ‖ Seq),
 *   - the TypeScript path (src/esp/seal.ts / open.ts: node:crypto createCipheriv per packet),
 *   - the native path, one N-API call per packet ("single") and 64 packets per call ("batch"),
 * beside `openssl speed -evp aes-256-gcm` and aes-128-gcm run in the same invocation (the
 * standard size table, and the exact packet sizes with -bytes). Rates count inner-packet octets,
 * which is what OpenSSL counts for its buffer.
 *
 * Opening needs fresh sequence numbers, so each opener works through a pool of 4096 sealed
 * packets and resets its replay window (setTopForTest(0, 0)) before reusing the pool.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { gcm } from '@noble/ciphers/aes.js';
import { OutboundEspSa, InboundEspSa } from '../dist/esp/esp-sa.js';
import { sealEsp } from '../dist/esp/seal.js';
import { openEsp } from '../dist/esp/open.js';
import { NativeEspSa, loadNativeEsp } from '../dist/native/esp-native.js';

export const SIZES = [64, 512, 1400, 8900];
const POOL = 4096;
const BATCH = 64;
const ENCR_AES_GCM_16 = 20;

function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

/**
 * Which clock divides the work: `openssl speed` divides by the CPU user time of its process
 * unless given -elapsed, so on a shared machine a wall-clock rate for our paths would be compared
 * with a CPU-time rate for OpenSSL. By default ours are per CPU-user-second too (process.cpuUsage:
 * the whole process, so GC threads count against the allocating paths); BENCH_CLOCK=wall switches
 * both sides to wall-clock time (and passes -elapsed to openssl).
 */
export const CLOCK = process.env.BENCH_CLOCK === 'wall' ? 'wall' : 'cpu-user';

/** Run fn(iteration) in chunks until `seconds` of wall time elapse; returns ops/s (fn returns ops done). */
function measure(seconds, fn) {
  for (let i = 0; i < 3; i++) fn(i); // warm-up (JIT, caches)
  let ops = 0;
  let k = 0;
  const start = now();
  const cpu0 = process.cpuUsage();
  let t = start;
  while (t - start < seconds) {
    for (let j = 0; j < 8; j++) ops += fn(k++);
    t = now();
  }
  const user = process.cpuUsage(cpu0).user / 1e6;
  return CLOCK === 'wall' || user <= 0 ? ops / (t - start) : ops / user;
}

function params(spi, esn = false) {
  const key = randomBytes(36);
  return { spi, encrId: ENCR_AES_GCM_16, encrKeyBits: 256, integId: 0, encrKey: key, integKey: new Uint8Array(0), esn };
}

function inner(size) {
  const b = randomBytes(size);
  b[0] = 0x45;
  return b;
}

/** @noble/ciphers: seal builds the ESP packet the RFC 4106 way; open checks the tag and reads the trailer. */
export function noble(size, seconds) {
  const key = randomBytes(32);
  const salt = randomBytes(4);
  const pt = inner(size);
  const ctLen = (size + 2 + 3) & ~3;
  const plain = new Uint8Array(ctLen);
  plain.set(pt);
  plain[ctLen - 2] = ctLen - size - 2;
  plain[ctLen - 1] = 4;
  const nonce = new Uint8Array(12);
  nonce.set(salt);
  const aad = new Uint8Array(8);
  let seq = 0;
  const sealOne = () => {
    seq++;
    new DataView(nonce.buffer).setUint32(8, seq);
    new DataView(aad.buffer).setUint32(4, seq);
    return gcm(key, nonce, aad).encrypt(plain);
  };
  const seal = measure(seconds, () => (sealOne(), 1));
  const sealed = sealOne();
  const open = measure(seconds, () => {
    const p = gcm(key, nonce, aad).decrypt(sealed);
    return p[p.length - 1] === 4 ? 1 : 0;
  });
  return { seal, open };
}

/** The TypeScript ESP path (node:crypto per packet), with the project's own SA objects. */
export function tsPath(size, seconds) {
  const p = params(0x1001);
  const tx = new OutboundEspSa(p);
  const rx = new InboundEspSa(p);
  const pt = inner(size);
  const slot = size + 64;
  const out = new Uint8Array(slot);
  const seal = measure(seconds, () => (sealEsp(tx, pt, size, 4, out, 0) > 0 ? 1 : 0));
  const tx2 = new OutboundEspSa(p);
  const pool = Array.from({ length: POOL }, () => {
    const b = new Uint8Array(slot);
    return b.subarray(0, sealEsp(tx2, pt, size, 4, b, 0));
  });
  const dst = new Uint8Array(slot);
  let i = 0;
  const open = measure(seconds, () => {
    if (i === POOL) {
      rx.replay.setTopForTest(0, 0);
      i = 0;
    }
    const w = pool[i++];
    return openEsp(rx, w, 0, w.length, dst).ok ? 1 : 0;
  });
  return { seal, open };
}

/** The native path: count packets per N-API call (1 = "single", 64 = "batch"). */
export function nativePath(api, size, seconds, count) {
  const p = params(0x2002);
  const tx = new NativeEspSa(api, p, true);
  const rx = new NativeEspSa(api, p, false);
  const slot = (size + 64 + 63) & ~63;
  const src = new Uint8Array(count * slot);
  for (let k = 0; k < count; k++) src.set(inner(size), k * slot);
  const offs = Uint32Array.from({ length: count }, (_, k) => k * slot);
  const lens = new Uint32Array(count).fill(size);
  const dst = new Uint8Array(count * slot);
  const res = new Int32Array(count);
  const seal = measure(seconds, () => tx.seal(src, offs, lens, dst, offs, slot, count, 4, res));
  // Open: a pool of sealed packets, opened `count` at a time out of place.
  const tx2 = new NativeEspSa(api, p, true);
  const pool = new Uint8Array(POOL * slot);
  const poolOffs = Uint32Array.from({ length: POOL }, (_, k) => k * slot);
  const poolLens = new Uint32Array(POOL);
  const srcPool = new Uint8Array(POOL * slot);
  for (let k = 0; k < POOL; k++) srcPool.set(src.subarray(0, size), k * slot);
  const sres = new Int32Array(POOL);
  tx2.seal(srcPool, poolOffs, new Uint32Array(POOL).fill(size), pool, poolOffs, slot, POOL, 4, sres);
  for (let k = 0; k < POOL; k++) poolLens[k] = sres[k];
  const nhs = new Uint8Array(count);
  const outOffs = Uint32Array.from({ length: count }, (_, k) => k * slot);
  let at = 0;
  const open = measure(seconds, () => {
    if (at + count > POOL) {
      rx.setReplayTopForTest(0, 0);
      at = 0;
    }
    const n = rx.open(pool, poolOffs.subarray(at, at + count), poolLens.subarray(at, at + count), dst, outOffs, slot, count, res, nhs);
    at += count;
    return n;
  });
  tx.destroy();
  rx.destroy();
  tx2.destroy();
  return { seal, open };
}

/** `openssl speed -mr` → { [size]: bytes/s } for one cipher (+F lines carry bytes/s per size). */
export function opensslSpeed(cipher, extraArgs) {
  const out = execFileSync('openssl', ['speed', '-mr', '-seconds', '1', ...(CLOCK === 'wall' ? ['-elapsed'] : []), ...extraArgs, '-evp', cipher], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const h = /^\+H:(.*)$/m.exec(out);
  const f = /^\+F:\d+:[^:]+:(.*)$/m.exec(out);
  if (!h || !f) throw new Error(`cannot parse openssl speed output:\n${out}`);
  const sizes = h[1].split(':').map(Number);
  const rates = f[1].split(':').map(Number);
  return Object.fromEntries(sizes.map((s, i) => [s, rates[i]]));
}

export async function runCrypto({ seconds = 0.5, log = console.log } = {}) {
  const load = loadNativeEsp();
  if (!load.api) throw new Error(`crypto bench needs the native addon: ${load.reason}`);
  const api = load.api;
  log(`crypto: openssl speed (standard table and exact sizes), then ${SIZES.length} sizes × 4 paths`);
  const openssl = {};
  for (const cipher of ['aes-256-gcm', 'aes-128-gcm']) {
    const table = opensslSpeed(cipher, []);
    const exact = {};
    for (const s of SIZES) Object.assign(exact, opensslSpeed(cipher, ['-bytes', String(s)]));
    openssl[cipher] = { table, exact };
  }
  const rows = [];
  for (const size of SIZES) {
    const table = openssl['aes-256-gcm'].table;
    const closest = Object.keys(table).map(Number).reduce((a, b) => (Math.abs(b - size) < Math.abs(a - size) ? b : a));
    const ref = { tableSize: closest, tableBytesPerSec: table[closest], exactBytesPerSec: openssl['aes-256-gcm'].exact[size], aes128ExactBytesPerSec: openssl['aes-128-gcm'].exact[size] };
    const paths = {
      noble: noble(size, Math.min(seconds, 0.4)),
      ts: tsPath(size, seconds),
      nativeSingle: nativePath(api, size, seconds, 1),
      nativeBatch: nativePath(api, size, seconds, BATCH),
    };
    for (const [path, r] of Object.entries(paths)) {
      for (const dir of ['seal', 'open']) {
        const pps = r[dir];
        rows.push({
          size, path, dir, packetsPerSec: pps, bytesPerSec: pps * size,
          ratioToOpensslTable: (pps * size) / ref.tableBytesPerSec, ratioToOpensslExact: (pps * size) / ref.exactBytesPerSec,
        });
      }
    }
    log(`  ${size} B: ts seal ${(paths.ts.seal / 1e3).toFixed(0)}k/s, native batch seal ${(paths.nativeBatch.seal / 1e3).toFixed(0)}k/s ` +
      `open ${(paths.nativeBatch.open / 1e3).toFixed(0)}k/s, openssl ${(ref.exactBytesPerSec / 1e9).toFixed(2)} GB/s`);
    openssl[`ref${size}`] = ref;
  }
  return { clock: CLOCK, openssl, rows, addon: load.reason };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const spread = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length, all: xs });

/**
 * Acceptance 1, measured in interleaved rounds so a noisy neighbour hits both sides alike: per
 * round, `openssl speed -evp aes-256-gcm -bytes 1400` (encrypt, then -decrypt), the native batched
 * seal and open, and the TypeScript (node:crypto per packet) seal and open, all at 1400 octets.
 */
export async function runCryptoAcceptance({ rounds = 5, size = 1400, seconds = 1, log = console.log } = {}) {
  const load = loadNativeEsp();
  if (!load.api) throw new Error(`crypto bench needs the native addon: ${load.reason}`);
  const r = [];
  for (let k = 0; k < rounds; k++) {
    const enc = opensslSpeed('aes-256-gcm', ['-bytes', String(size)])[size];
    const dec = opensslSpeed('aes-256-gcm', ['-bytes', String(size), '-decrypt'])[size];
    const nat = nativePath(load.api, size, seconds, BATCH);
    const single = nativePath(load.api, size, seconds / 2, 1);
    const ts = tsPath(size, seconds / 2);
    const x = {
      opensslEncBytesPerSec: enc, opensslDecBytesPerSec: dec,
      nativeSealBytesPerSec: nat.seal * size, nativeOpenBytesPerSec: nat.open * size,
      nativeSingleSealPps: single.seal, nativeSingleOpenPps: single.open,
      tsSealPps: ts.seal, tsOpenPps: ts.open, nativeSealPps: nat.seal, nativeOpenPps: nat.open,
    };
    // seal+open as one figure: the rate of alternating the two (harmonic mean), against OpenSSL's
    // encrypt/decrypt the same way; and each direction against the plain `openssl speed` (encrypt).
    x.sealOpenVsOpenssl = (2 / (1 / x.nativeSealBytesPerSec + 1 / x.nativeOpenBytesPerSec)) / (2 / (1 / enc + 1 / dec));
    x.sealVsOpensslEnc = x.nativeSealBytesPerSec / enc;
    x.openVsOpensslEnc = x.nativeOpenBytesPerSec / enc;
    x.openVsOpensslDec = x.nativeOpenBytesPerSec / dec;
    x.sealVsTs = nat.seal / ts.seal;
    x.openVsTs = nat.open / ts.open;
    r.push(x);
    log(`  round ${k + 1}/${rounds}: openssl ${(enc / 1e9).toFixed(2)}/${(dec / 1e9).toFixed(2)} GB/s enc/dec, native ${(x.nativeSealBytesPerSec / 1e9).toFixed(2)}/${(x.nativeOpenBytesPerSec / 1e9).toFixed(2)} GB/s seal/open ` +
      `(×${x.sealVsOpensslEnc.toFixed(2)}/×${x.openVsOpensslEnc.toFixed(2)} of openssl enc), ts ${(ts.seal / 1e3).toFixed(0)}k/${(ts.open / 1e3).toFixed(0)}k pkt/s (native ×${x.sealVsTs.toFixed(1)}/×${x.openVsTs.toFixed(1)})`);
  }
  const keys = Object.keys(r[0]);
  return { clock: CLOCK, size, rounds: r, spread: Object.fromEntries(keys.map((k) => [k, spread(r.map((x) => x[k]))])) };
}
