/**
 * IKEv2 message fragmentation, RFC 7383: splitting a protected message into Encrypted Fragment
 * (SKF) messages, and opening one received fragment. Pure and sans-IO like the rest of the codec;
 * reassembly (per-SA state) is in ./reassembler.ts.
 *
 * One fragment message (RFC 7383 §2.5):
 *
 *   0            28            32           36                                        length
 *   +------------+-------------+-----------+----+--------------------------------+-----+
 *   | IKE header | SKF generic | Frag# Tot | IV | chunk of inner chain ‖ pad ‖ pl | ICV |
 *   +------------+-------------+-----------+----+--------------------------------+-----+
 *   \___________ AAD (final lengths) ______/\__________ SkCipher.seal output _________/
 *
 * Each fragment is padded, encrypted and authenticated on its own with the SA's keys, with
 * a fresh IV (§2.5). The AAD for AEAD (RFC 5282 §5.1) is the IKE header plus the whole 8-octet
 * SKF header (Fragment Number and Total Fragments included); for AES-CBC + HMAC the ICV covers
 * the same octets followed by IV ‖ ciphertext.
 */
import { IKE_HEADER_LENGTH, NON_ESP_MARKER_LENGTH, PayloadType } from '../constants.js';
import type { SkCipher } from '../crypto/types.js';
import { ByteWriter, EncodeError } from './bytes.js';
import { writeHeader } from './header.js';
import type { MessageHeaderFields } from './message.js';
import { encodePayloads, isEncrypted, payloadTypeOf } from './payload-chain.js';
import { DecodeError, type IkeHeader, type IkeMessage, type Payload, type SkfPayload } from './types.js';

/** RFC 7383 §2.5: generic payload header (4) + Fragment Number (2) + Total Fragments (2). */
export const SKF_HEADER_LENGTH = 8;
const UDP_HEADER_LENGTH = 8;

/**
 * The IP version of the path: its header length is part of the budget. maxDatagram means the
 * whole IP packet, as strongSwan's charon.fragment_size does (strongswan.conf(5): "Maximum size
 * (complete IP datagram size in bytes) of a sent IKE fragment"; its message.c fragment() subtracts
 * 20/40 for IP, 8 for UDP and 4 for the non-ESP marker), so one config value (fragmentSize,
 * default 1280) means the same thing for both implementations.
 */
export type IpVersion = 4 | 6;

/** IP + UDP (+ non-ESP marker on port 4500, RFC 3948 §2.2) octets in front of the IKE message. */
export function transportOverhead(natT: boolean, ipVersion: IpVersion = 4): number {
  return (ipVersion === 4 ? 20 : 40) + UDP_HEADER_LENGTH + (natT ? NON_ESP_MARKER_LENGTH : 0);
}

/**
 * Whether an IKE message of `ikeLength` octets (as encodeMessage returns it) exceeds
 * `maxDatagram` once IP, UDP and the non-ESP marker are added: the engine's "fragment or not"
 * test for protected messages once both peers sent IKEV2_FRAGMENTATION_SUPPORTED (§2.3, §2.4).
 */
export function exceedsDatagram(ikeLength: number, maxDatagram: number, natT: boolean, ipVersion: IpVersion = 4): boolean {
  return ikeLength + transportOverhead(natT, ipVersion) > maxDatagram;
}

/**
 * Largest chunk of the inner chain that one fragment can carry so that the whole IP packet fits
 * `maxDatagram`. Uses only cipher.sealedLength (monotone in its argument), so it is exact for
 * any SkCipher: for AES-CBC it rounds to the block size minus the Pad Length octet, for GCM it is
 * the budget minus IV, ICV and the Pad Length octet — the same numbers strongSwan computes.
 * Returns 0 when not even one octet fits.
 */
export function maxFragmentChunk(cipher: SkCipher, maxDatagram: number, natT: boolean, ipVersion: IpVersion = 4): number {
  const budget = maxDatagram - transportOverhead(natT, ipVersion) - IKE_HEADER_LENGTH - SKF_HEADER_LENGTH;
  if (!Number.isFinite(budget) || budget <= 0) return 0;
  let lo = 0; // invariant: chunk lo fits (or lo = 0)
  let hi = Math.min(Math.floor(budget), 0xffff);
  if (cipher.sealedLength(1) > budget) return 0;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (cipher.sealedLength(mid) <= budget) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Encodes `payloads` as a protected message split into SKF fragments (RFC 7383 §2.5), each an
 * IKE message that fits `maxDatagram` octets once IPv4/IPv6 (20/40), UDP (8) and, when `natT`,
 * the 4-octet non-ESP marker are added (`natT` = this SA's IKE messages go over UDP 4500, e.g.
 * after the NAT-T float, whether or not a NAT was detected — strongSwan's test is "neither port
 * is 500"). Returns the IKE messages (without the marker; the socket layer adds it) in fragment
 * order, to be sent back to back; total = 1 is valid. Every fragment carries
 * `header`'s Message ID; fragment 1's Next Payload is the first inner payload, the others' 0.
 *
 * Throws EncodeError (a caller bug, like encodeMessage) when maxDatagram leaves no room for even
 * one octet of content, when more than 65535 fragments would be needed, or when `payloads`
 * contains SK/SKF.
 */
export function fragmentMessage(
  header: MessageHeaderFields, payloads: readonly Payload[], cipher: SkCipher, maxDatagram: number, natT: boolean,
  ipVersion: IpVersion = 4,
): Uint8Array[] {
  if (payloads.some((p) => isEncrypted(payloadTypeOf(p)))) throw new EncodeError('SK/SKF cannot be nested inside SKF');
  const first = payloads[0];
  const firstType = first === undefined ? PayloadType.NONE : payloadTypeOf(first);
  const chain = encodePayloads(payloads);
  const chunk = maxFragmentChunk(cipher, maxDatagram, natT, ipVersion);
  if (chunk < 1) throw new EncodeError(`maxDatagram ${maxDatagram} leaves no room for fragment content`);
  const total = Math.max(1, Math.ceil(chain.length / chunk));
  if (total > 0xffff) throw new EncodeError(`${total} fragments needed`);

  const out: Uint8Array[] = [];
  for (let n = 1; n <= total; n++) {
    const part = chain.subarray((n - 1) * chunk, Math.min(n * chunk, chain.length));
    const sealedLength = cipher.sealedLength(part.length);
    const skfLength = SKF_HEADER_LENGTH + sealedLength;
    const length = IKE_HEADER_LENGTH + skfLength;
    const w = new ByteWriter(length);
    writeHeader(w, { ...header, nextPayload: PayloadType.SKF, length });
    // §2.5: fragment 1's Next Payload names the first payload inside; the others carry 0.
    w.u8(n === 1 ? firstType : PayloadType.NONE, 'SKF next payload').u8(0).u16(skfLength, 'SKF length');
    w.u16(n, 'fragment number').u16(total, 'total fragments');
    const body = cipher.seal(w.finish(), part);
    if (body.length !== sealedLength) {
      throw new EncodeError(`SkCipher.seal returned ${body.length} octets, sealedLength said ${sealedLength}`);
    }
    w.bytes(body);
    out.push(w.finish());
  }
  return out;
}

/** Why a single fragment could not be opened: 'integrity' means drop silently (§2.6). */
export type OpenFragmentResult =
  | { ok: true; value: { fragment: SkfPayload; plaintext: Uint8Array } }
  | { ok: false; error: 'integrity' }
  | { ok: false; error: DecodeError };

/**
 * Verifies and decrypts one fragment message (`msg` decoded from exactly `bytes`, e.g. by
 * decodeMessage). The SKF payload must be the only payload: RFC 7383 §2.5.3 lets unprotected
 * payloads precede it in fragment 1, but IKEv2 defines none we would accept unprotected, so such
 * messages are rejected rather than half-processed. AAD = bytes[0 .. 36). Never throws.
 *
 * Exported for the engine too: RFC 7383 §2.6.1 has the responder resend its cached response on
 * a retransmitted request only when fragment 1 arrives, and this checks that fragment first.
 */
export function openFragment(bytes: Uint8Array, msg: IkeMessage, cipher: SkCipher): OpenFragmentResult {
  const bad = (reason: 'bad-field' | 'bad-length', detail: string, at: number): OpenFragmentResult => ({
    ok: false,
    error: new DecodeError(reason, detail, at),
  });
  const skf = msg.payloads[0];
  if (msg.payloads.length !== 1 || skf === undefined || skf.type !== PayloadType.SKF) {
    return bad('bad-field', 'a fragment message carries exactly one payload, SKF', IKE_HEADER_LENGTH);
  }
  if (msg.header.nextPayload !== PayloadType.SKF) return bad('bad-field', 'header Next Payload is not SKF', 16);
  if (bytes.length !== msg.header.length) {
    return bad('bad-length', `message of ${bytes.length} octets, header says ${msg.header.length}`, 24);
  }
  const aadLength = IKE_HEADER_LENGTH + SKF_HEADER_LENGTH;
  // The SKF payload must be exactly the octets after the header: recheck against the bytes so a
  // `msg` that does not belong to `bytes` cannot make us authenticate one thing and use another.
  const skfLen = bytes.length >= aadLength ? ((bytes[30] ?? 0) << 8) | (bytes[31] ?? 0) : -1;
  if (skfLen !== SKF_HEADER_LENGTH + skf.body.length || skfLen !== bytes.length - IKE_HEADER_LENGTH ||
      bytes[IKE_HEADER_LENGTH] !== skf.innerNext ||
      (((bytes[32] ?? 0) << 8) | (bytes[33] ?? 0)) !== skf.fragmentNumber ||
      (((bytes[34] ?? 0) << 8) | (bytes[35] ?? 0)) !== skf.totalFragments) {
    return bad('bad-field', 'SKF payload does not match the message bytes', IKE_HEADER_LENGTH);
  }
  // §2.5: Fragment Number and Total Fragments are non-zero, number ≤ total (skfCodec checks it
  // on decode; recheck since `msg` may have been built by hand).
  if (skf.fragmentNumber < 1 || skf.totalFragments < skf.fragmentNumber) {
    return bad('bad-field', `fragment ${skf.fragmentNumber} of ${skf.totalFragments}`, 32);
  }
  if (skf.body.length < cipher.ivLength + cipher.icvLength) return { ok: false, error: 'integrity' };
  const plaintext = cipher.open(bytes.subarray(0, aadLength), skf.body);
  if (plaintext === null) return { ok: false, error: 'integrity' };
  return { ok: true, value: { fragment: skf, plaintext } };
}

/** The header fields that must agree across the fragments of one message (all but the lengths). */
export function sameMessage(a: IkeHeader, b: IkeHeader): boolean {
  return a.messageId === b.messageId && a.exchangeType === b.exchangeType && a.response === b.response &&
    a.initiator === b.initiator && a.majorVersion === b.majorVersion && a.minorVersion === b.minorVersion &&
    a.version === b.version && equalBytes(a.spiI, b.spiI) && equalBytes(a.spiR, b.spiR);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
