/**
 * The native ESP fast path (native/src/esp.c, esp_napi.c), loaded through this one module.
 *
 * What it is: ESP seal/open (RFC 4303) in C against the OpenSSL that Node itself exports, with one
 * EVP_CIPHER_CTX per SA direction (the key schedule is done once; per packet only the IV/nonce
 * changes) and a batch API: one N-API call seals or opens `count` packets that sit in a
 * caller-owned slab at caller-given offsets. Nothing is allocated per packet in JS or in our C.
 *
 * Suites: the rows of native/src/esp_ciphers.c, which must equal the TypeScript table
 * (src/ike/crypto/transforms.ts): the loader compares them (src/native/tables-check.ts) and
 * refuses an addon that disagrees. The AEAD ciphers are the fast path. AES-CBC + HMAC-SHA2
 * (RFC 3602, RFC 4868) and NULL + HMAC-SHA2 (RFC 2410) work too, but OpenSSL 3 re-initialises a
 * keyed HMAC context per packet by duplicating its digest state (an allocation inside OpenSSL),
 * so they are correct rather than fast.
 *
 * The bytes are those of the TypeScript reference for the same SA state, and the counters move the
 * same way: test/unit/native/esp-differential.test.ts holds the two paths to that.
 */
import { loadAddonFile } from './addon-file.js';
import type { EspSaParams } from '../esp/params.js';
import { DEFAULT_REPLAY_WINDOW } from '../esp/replay.js';
import { ESP_DROP_REASONS } from '../dataplane/drops.js';
import { DP_COUNTERS, DP_TUNNEL_STATS, type NativeDataplaneApi } from './dp-api.js';
import { nameMismatches, transformMismatches, type NativeTransforms } from './tables-check.js';

/** Opaque SA handle made by espSaCreate (type-tagged in C; anything else is refused). */
export interface NativeSaHandle {
  readonly __nativeEspSa: unique symbol;
}

/** The ESP exports of branchgate_native.node (native/src/esp_napi.c documents each one). */
export interface NativeEspApi {
  espSaCreate(
    spi: number, outbound: boolean, esn: boolean, encrId: number, keyBits: number, integId: number,
    encrKey: Uint8Array, integKey: Uint8Array, replayWindow: number,
  ): NativeSaHandle;
  espSaDestroy(sa: NativeSaHandle): void;
  espSeal(
    sa: NativeSaHandle, src: Uint8Array, srcOffsets: Uint32Array, srcLengths: Uint32Array,
    dst: Uint8Array, dstOffsets: Uint32Array, dstSlot: number, count: number, nextHeader: number, results: Int32Array,
  ): number;
  espOpen(
    sa: NativeSaHandle, src: Uint8Array, srcOffsets: Uint32Array, srcLengths: Uint32Array,
    dst: Uint8Array, dstOffsets: Uint32Array, dstSlot: number, count: number, results: Int32Array, nextHeaders: Uint8Array,
  ): number;
  espSaState(sa: NativeSaHandle, out: Float64Array): void;
  espSaSetSeq(sa: NativeSaHandle, hi: number, lo: number): void;
  espSaSetReplayTop(sa: NativeSaHandle, hi: number, lo: number): void;
  espSaSetNextIv(sa: NativeSaHandle, iv: Uint8Array): void;
  /** The addon's cipher table (native/src/esp_ciphers.c), for the load-time check. */
  espTransforms(): NativeTransforms;
  opensslVersion(): string;
}

export type NativeAddon = NativeEspApi & NativeDataplaneApi;

export interface NativeEspLoad {
  api: NativeAddon | null;
  reason: string;
}

const EXPORTS = [
  'espSaCreate', 'espSaDestroy', 'espSeal', 'espOpen', 'espSaState', 'espSaSetSeq', 'espSaSetReplayTop', 'espSaSetNextIv', 'espTransforms',
  'opensslVersion',
] as const;
const DP_EXPORTS = [
  'dpCreate', 'dpAddSocket', 'dpAttachTunnel', 'dpDetachTunnel', 'dpAddChild', 'dpActivateChild', 'dpDeleteChild', 'dpUpdateRemote',
  'dpNames', 'dpCounters', 'dpTunnelStats', 'dpDrops', 'dpInject', 'dpSetSeq', 'dpClose', 'findUdpSocket', 'open', 'close',
] as const;

let loaded: NativeEspLoad | undefined;

/**
 * Load the addon's ESP/dataplane exports once. Never throws; BRANCHGATE_NO_NATIVE=1 turns it off
 * (checked per call, as src/net/tun.ts does, so tests can flip it).
 */
export function loadNativeEsp(): NativeEspLoad {
  if (process.env.BRANCHGATE_NO_NATIVE === '1') return { api: null, reason: 'native ESP disabled by BRANCHGATE_NO_NATIVE=1' };
  loaded ??= tryLoad();
  return loaded;
}

function tryLoad(): NativeEspLoad {
  if (process.platform !== 'linux') return { api: null, reason: `native ESP is Linux-only (this is ${process.platform})` };
  const load = loadAddonFile('native addon', EXPORTS);
  if (!load.ok) return { api: null, reason: load.reason };
  const mod = load.mod as unknown as NativeAddon;
  const diff = transformMismatches(mod.espTransforms());
  if (diff.length > 0) return { api: null, reason: disagree(load.path, diff) };
  return { api: mod, reason: `native ESP loaded (${load.path}, ${mod.opensslVersion()})` };
}

function disagree(path: string, diff: string[]): string {
  return `native addon at ${path} disagrees with the TypeScript tables (${diff.join('; ')}): `
    + 'rebuild it with `npm run build:native`, or make both sides say the same (docs/architecture-crypto.md)';
}

/** The addon when it also has the dataplane exports (native/src/dp_napi.c), else why not. */
export function loadNativeDataplane(): NativeEspLoad {
  const n = loadNativeEsp();
  if (n.api === null) return n;
  const missing = DP_EXPORTS.filter((k) => typeof (n.api as unknown as Record<string, unknown>)[k] !== 'function');
  if (missing.length > 0) return { api: null, reason: `native addon is stale (missing ${missing.join(', ')}): rebuild with \`npm run build:native\`` };
  const names = n.api.dpNames();
  const diff = [
    ...nameMismatches('per-SA counters (DP_COUNTERS)', names.counters, DP_COUNTERS),
    ...nameMismatches('tunnel stats (DP_TUNNEL_STATS)', names.tunnelStats, DP_TUNNEL_STATS),
    ...nameMismatches('drop reasons (src/dataplane/drops.ts)', names.drops, ESP_DROP_REASONS),
  ];
  if (diff.length > 0) return { api: null, reason: disagree('native/build', diff) };
  return n;
}

/** Snapshot of a native SA: sequence state, window top and the EspCounters of src/esp/esp-sa.ts. */
export interface NativeSaState {
  seqHigh: number;
  seqLow: number;
  rekeyNeeded: boolean;
  topHigh: number;
  topLow: number;
  counters: {
    bytes: number; packets: number; replayDrops: number; authFailures: number;
    malformed: number; policyDrops: number; dummy: number; seqRefusals: number;
  };
}

/**
 * One direction of an SA held in C. The key lives in the EVP context only; this object holds
 * no key material and prints none.
 */
export class NativeEspSa {
  readonly handle: NativeSaHandle;
  readonly spi: number;
  private readonly scratch = new Float64Array(13);

  /** Throws RangeError (as esp-sa.ts does) for unsupported transforms or wrong key lengths. */
  constructor(
    private readonly api: NativeEspApi,
    p: EspSaParams,
    readonly outbound: boolean,
    replayWindow = DEFAULT_REPLAY_WINDOW,
  ) {
    this.spi = p.spi;
    this.handle = api.espSaCreate(p.spi, outbound, p.esn, p.encrId, p.encrKeyBits, p.integId, p.encrKey, p.integKey,
      outbound ? 0 : replayWindow);
  }

  state(): NativeSaState {
    const o = this.scratch;
    this.api.espSaState(this.handle, o);
    return {
      seqHigh: o[0]!, seqLow: o[1]!, rekeyNeeded: o[2] === 1, topHigh: o[3]!, topLow: o[4]!,
      counters: {
        bytes: o[5]!, packets: o[6]!, replayDrops: o[7]!, authFailures: o[8]!,
        malformed: o[9]!, policyDrops: o[10]!, dummy: o[11]!, seqRefusals: o[12]!,
      },
    };
  }

  /** Seal packets i < count: src[srcOffsets[i], +srcLengths[i]) → dst[dstOffsets[i], +dstSlot). */
  seal(src: Uint8Array, srcOffsets: Uint32Array, srcLengths: Uint32Array, dst: Uint8Array, dstOffsets: Uint32Array,
    dstSlot: number, count: number, nextHeader: number, results: Int32Array): number {
    return this.api.espSeal(this.handle, src, srcOffsets, srcLengths, dst, dstOffsets, dstSlot, count, nextHeader, results);
  }

  /** Open packets i < count into dst[dstOffsets[i], …) (in place when dstOffsets[i] = srcOffsets[i] + 16 on the same slab). */
  open(src: Uint8Array, srcOffsets: Uint32Array, srcLengths: Uint32Array, dst: Uint8Array, dstOffsets: Uint32Array,
    dstSlot: number, count: number, results: Int32Array, nextHeaders: Uint8Array): number {
    return this.api.espOpen(this.handle, src, srcOffsets, srcLengths, dst, dstOffsets, dstSlot, count, results, nextHeaders);
  }

  /** Test hook: the last sequence number "sent" becomes hi:lo (OutboundEspSa.setSeqForTest). */
  setSeqForTest(hi: number, lo: number): void {
    this.api.espSaSetSeq(this.handle, hi, lo);
  }

  /** Test hook: the window top becomes hi:lo (ReplayWindow.setTopForTest). */
  setReplayTopForTest(hi: number, lo: number): void {
    this.api.espSaSetReplayTop(this.handle, hi, lo);
  }

  /** Test hook for known-answer tests: the next sealed packet uses this IV (OutboundEspSa.setNextIvForTest). */
  setNextIvForTest(iv: Uint8Array): void {
    this.api.espSaSetNextIv(this.handle, iv);
  }

  /** Free the C context now (it is freed with this object otherwise); later calls throw. */
  destroy(): void {
    this.api.espSaDestroy(this.handle);
  }

  toJSON(): Record<string, unknown> {
    return { spi: this.spi, outbound: this.outbound, native: true };
  }
}
