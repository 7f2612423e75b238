/**
 * Decoded forms of the IKEv2 header and payloads (RFC 7296 §3). These are the values the
 * codec produces and consumes; wire layout lives in one module per payload under payloads/.
 */
import type { PayloadType } from '../constants.js';

/** RFC 7296 §3.1. SPIs are 8 octets each; spiR is all-zero in the first IKE_SA_INIT. */
export interface IkeHeader {
  spiI: Uint8Array;
  spiR: Uint8Array;
  /** Type of the first payload. */
  nextPayload: number;
  majorVersion: number;
  minorVersion: number;
  exchangeType: number;
  /** Flag bits: I (initiator), V (version), R (response). */
  initiator: boolean;
  response: boolean;
  version: boolean;
  messageId: number;
  /** Total message length in octets, header included. */
  length: number;
}

/** RFC 7296 §3.3.2/§3.3.5. keyLength (bits) comes from the Key Length attribute, if present. */
export interface Transform {
  type: number;
  id: number;
  keyLength?: number;
}

/** RFC 7296 §3.3.1. spi is empty in IKE_SA_INIT, 4 octets for ESP, 8 for IKE rekey. */
export interface Proposal {
  num: number;
  protocol: number;
  spi: Uint8Array;
  transforms: Transform[];
}

/** RFC 7296 §3.13.1. Addresses are 4 (IPv4) or 16 (IPv6) octets. */
export interface TrafficSelector {
  tsType: number;
  ipProtocol: number;
  startPort: number;
  endPort: number;
  startAddr: Uint8Array;
  endAddr: Uint8Array;
}

/** RFC 7296 §3.15.1. */
export interface CpAttribute {
  type: number;
  value: Uint8Array;
}

interface PayloadBase {
  /** The critical bit as received (RFC 7296 §2.5); we always send 0 for payloads we define. */
  critical?: boolean;
}

export interface SaPayload extends PayloadBase { type: typeof PayloadType.SA; proposals: Proposal[] }
export interface KePayload extends PayloadBase { type: typeof PayloadType.KE; group: number; data: Uint8Array }
export interface IdPayload extends PayloadBase {
  type: typeof PayloadType.IDi | typeof PayloadType.IDr;
  idType: number;
  data: Uint8Array;
}
export interface CertPayload extends PayloadBase { type: typeof PayloadType.CERT; encoding: number; data: Uint8Array }
export interface CertReqPayload extends PayloadBase { type: typeof PayloadType.CERTREQ; encoding: number; data: Uint8Array }
export interface AuthPayload extends PayloadBase { type: typeof PayloadType.AUTH; method: number; data: Uint8Array }
export interface NoncePayload extends PayloadBase { type: typeof PayloadType.NONCE; data: Uint8Array }
export interface NotifyPayload extends PayloadBase {
  type: typeof PayloadType.NOTIFY;
  /** 0 when no SPI; 1 IKE, 3 ESP. */
  protocol: number;
  spi: Uint8Array;
  notifyType: number;
  data: Uint8Array;
}
export interface DeletePayload extends PayloadBase {
  type: typeof PayloadType.DELETE;
  protocol: number;
  /** 0 for IKE, 4 for ESP/AH. Every element of spis has this length. */
  spiSize: number;
  spis: Uint8Array[];
}
export interface VendorPayload extends PayloadBase { type: typeof PayloadType.VENDOR; data: Uint8Array }
export interface TsPayload extends PayloadBase {
  type: typeof PayloadType.TSi | typeof PayloadType.TSr;
  selectors: TrafficSelector[];
}
/**
 * RFC 7296 §3.14. The encrypted body (IV ‖ ciphertext ‖ ICV) as on the wire; innerNext is the
 * type of the first payload inside. Decryption is done by the SK layer, not the payload codec.
 */
export interface SkPayload extends PayloadBase { type: typeof PayloadType.SK; innerNext: number; body: Uint8Array }
export interface CpPayload extends PayloadBase { type: typeof PayloadType.CP; cfgType: number; attributes: CpAttribute[] }
export interface EapPayload extends PayloadBase { type: typeof PayloadType.EAP; data: Uint8Array }
/** RFC 7383 §2.5. innerNext is non-zero only in fragment 1. */
export interface SkfPayload extends PayloadBase {
  type: typeof PayloadType.SKF;
  innerNext: number;
  fragmentNumber: number;
  totalFragments: number;
  body: Uint8Array;
}
/** A payload type we do not know; kept so the message can be skipped or rejected (RFC 7296 §2.5). */
export interface UnknownPayload {
  type: 'unknown';
  rawType: number;
  critical: boolean;
  data: Uint8Array;
}

export type Payload =
  | SaPayload
  | KePayload
  | IdPayload
  | CertPayload
  | CertReqPayload
  | AuthPayload
  | NoncePayload
  | NotifyPayload
  | DeletePayload
  | VendorPayload
  | TsPayload
  | SkPayload
  | CpPayload
  | EapPayload
  | SkfPayload
  | UnknownPayload;

/** A decoded message: header plus the outer payload chain (SK still encrypted). */
export interface IkeMessage {
  header: IkeHeader;
  payloads: Payload[];
}

/** Why a decode failed. Decoders return this; they never throw on malformed input. */
export type DecodeErrorReason =
  | 'truncated'
  | 'bad-length'
  | 'bad-version'
  | 'bad-field'
  | 'trailing-bytes'
  | 'too-many-payloads';

export class DecodeError extends Error {
  constructor(
    readonly reason: DecodeErrorReason,
    readonly detail: string,
    readonly offset: number,
  ) {
    super(`${reason} at offset ${offset}: ${detail}`);
    this.name = 'DecodeError';
  }
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: DecodeError };
