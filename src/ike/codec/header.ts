/**
 * IKE header, RFC 7296 §3.1.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       IKE SA Initiator's SPI                  |
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       IKE SA Responder's SPI                  |
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                          Message ID                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                            Length                             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field         | offset | size | notes                                                  |
 * |---------------|--------|------|--------------------------------------------------------|
 * | spiI          | 0      | 8    |                                                        |
 * | spiR          | 8      | 8    | zero in the first IKE_SA_INIT request                  |
 * | nextPayload   | 16     | 1    | type of the first payload                              |
 * | major/minor   | 17     | 1    | high / low nibble; major MUST be 2, minor is ignored   |
 * | exchangeType  | 18     | 1    |                                                        |
 * | flags         | 19     | 1    | X X R V I X X X; X bits sent 0, ignored on receipt     |
 * | messageId     | 20     | 4    |                                                        |
 * | length        | 24     | 4    | whole message incl. header; must equal datagram length |
 */
import { HeaderFlag, IKE_HEADER_LENGTH, IKE_MAJOR_VERSION } from '../constants.js';
import { ByteReader, ByteWriter, EncodeError, catchDecode, requireLength } from './bytes.js';
import { DecodeError, type DecodeResult, type IkeHeader } from './types.js';

/**
 * The major version is not 2 (RFC 7296 §2.5). Carries the whole header (SPIs, message ID,
 * exchange, versions) so the engine can answer with INVALID_MAJOR_VERSION.
 */
export class BadVersionError extends DecodeError {
  constructor(readonly header: IkeHeader) {
    super('bad-version', `major version ${header.majorVersion}.${header.minorVersion}, expected ${IKE_MAJOR_VERSION}`, 17);
  }
}

/** Reads the 28 header octets at the reader's position; checks nothing but availability. */
export function readHeaderFields(r: ByteReader): IkeHeader {
  r.need(IKE_HEADER_LENGTH, 'IKE header');
  const spiI = r.bytes(8);
  const spiR = r.bytes(8);
  const nextPayload = r.u8();
  const version = r.u8();
  const exchangeType = r.u8();
  const flags = r.u8();
  const messageId = r.u32();
  const length = r.u32();
  return {
    spiI,
    spiR,
    nextPayload,
    majorVersion: version >>> 4,
    minorVersion: version & 0x0f,
    exchangeType,
    initiator: (flags & HeaderFlag.INITIATOR) !== 0,
    response: (flags & HeaderFlag.RESPONSE) !== 0,
    version: (flags & HeaderFlag.VERSION) !== 0,
    messageId,
    length,
  };
}

/**
 * Decodes and checks the header of a whole datagram (no non-ESP marker): at least 28 octets,
 * major version 2 (else BadVersionError, reason 'bad-version'), Length ≥ 28 and equal to the
 * datagram length (else 'bad-length').
 */
export function decodeHeader(datagram: Uint8Array): DecodeResult<IkeHeader> {
  return catchDecode(() => {
    const h = readHeaderFields(new ByteReader(datagram));
    if (h.majorVersion !== IKE_MAJOR_VERSION) throw new BadVersionError(h);
    if (h.length < IKE_HEADER_LENGTH) {
      throw new DecodeError('bad-length', `header length ${h.length} < ${IKE_HEADER_LENGTH}`, 24);
    }
    if (h.length !== datagram.length) {
      throw new DecodeError('bad-length', `header length ${h.length} != datagram length ${datagram.length}`, 24);
    }
    return h;
  });
}

/** Writes the 28 header octets. Throws EncodeError on out-of-range fields. */
export function writeHeader(w: ByteWriter, h: IkeHeader): void {
  requireLength(h.spiI.length, 8, 'spiI');
  requireLength(h.spiR.length, 8, 'spiR');
  w.bytes(h.spiI).bytes(h.spiR);
  w.u8(h.nextPayload, 'nextPayload');
  if (!(h.majorVersion >= 0 && h.majorVersion <= 15 && h.minorVersion >= 0 && h.minorVersion <= 15)) {
    throw new EncodeError(`version ${h.majorVersion}.${h.minorVersion} does not fit in two nibbles`);
  }
  w.u8((h.majorVersion << 4) | h.minorVersion, 'version');
  w.u8(h.exchangeType, 'exchangeType');
  const flags =
    (h.initiator ? HeaderFlag.INITIATOR : 0) |
    (h.version ? HeaderFlag.VERSION : 0) |
    (h.response ? HeaderFlag.RESPONSE : 0);
  w.u8(flags);
  w.u32(h.messageId, 'messageId');
  w.u32(h.length, 'length');
}

export function encodeHeader(h: IkeHeader): Uint8Array {
  const w = new ByteWriter(IKE_HEADER_LENGTH);
  writeHeader(w, h);
  return w.finish();
}
