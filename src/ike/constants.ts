/**
 * IANA IKEv2 registry values used by branchgate (RFC 7296 §3, RFC 7383, RFC 5282, RFC 4868,
 * RFC 5114, RFC 5903, RFC 8031). Values cross-checked against OpenIKED `iked/ikev2.h`
 * (iked/ikev2.h). Spec constants only; implementation limits live elsewhere.
 */

/** RFC 7296 §3.1 Exchange Type. */
export const ExchangeType = {
  IKE_SA_INIT: 34,
  IKE_AUTH: 35,
  CREATE_CHILD_SA: 36,
  INFORMATIONAL: 37,
} as const;
export type ExchangeType = (typeof ExchangeType)[keyof typeof ExchangeType];

/** RFC 7296 §3.2 Next Payload types (and RFC 7383 SKF). */
export const PayloadType = {
  NONE: 0,
  SA: 33,
  KE: 34,
  IDi: 35,
  IDr: 36,
  CERT: 37,
  CERTREQ: 38,
  AUTH: 39,
  NONCE: 40,
  NOTIFY: 41,
  DELETE: 42,
  VENDOR: 43,
  TSi: 44,
  TSr: 45,
  SK: 46,
  CP: 47,
  EAP: 48,
  SKF: 53,
} as const;
export type PayloadType = (typeof PayloadType)[keyof typeof PayloadType];

/** RFC 7296 §3.1 header flags. */
export const HeaderFlag = {
  INITIATOR: 0x08,
  VERSION: 0x10,
  RESPONSE: 0x20,
} as const;

export const IKE_MAJOR_VERSION = 2;
export const IKE_MINOR_VERSION = 0;
/** RFC 7296 §3.1: the fixed IKE header is 28 octets. */
export const IKE_HEADER_LENGTH = 28;
/** RFC 7296 §3.2: the generic payload header is 4 octets. */
export const GENERIC_PAYLOAD_HEADER_LENGTH = 4;
/** RFC 3948 §2.2: IKE on port 4500 is prefixed by four zero octets. */
export const NON_ESP_MARKER_LENGTH = 4;

/** RFC 7296 §3.3.1 Protocol ID. */
export const ProtocolId = {
  IKE: 1,
  AH: 2,
  ESP: 3,
} as const;
export type ProtocolId = (typeof ProtocolId)[keyof typeof ProtocolId];

/** RFC 7296 §3.3.2 Transform Type. Type 5 is "ESN" (renamed KE-adjacent in RFC 9827). */
export const TransformType = {
  ENCR: 1,
  PRF: 2,
  INTEG: 3,
  DH: 4,
  ESN: 5,
} as const;
export type TransformType = (typeof TransformType)[keyof typeof TransformType];

/** Transform Type 1 IDs we implement (plus NULL for ESP integrity-only). */
export const EncrId = {
  NULL: 11,
  AES_CBC: 12,
  AES_GCM_8: 18,
  AES_GCM_12: 19,
  AES_GCM_16: 20,
  /** RFC 7634: no Key Length attribute; 32-octet key + 4-octet salt, 8-octet IV, 16-octet ICV. */
  CHACHA20_POLY1305: 28,
} as const;
export type EncrId = (typeof EncrId)[keyof typeof EncrId];

/** Transform Type 2 IDs (RFC 4868). */
export const PrfId = {
  HMAC_SHA2_256: 5,
  HMAC_SHA2_384: 6,
  HMAC_SHA2_512: 7,
} as const;
export type PrfId = (typeof PrfId)[keyof typeof PrfId];

/** Transform Type 3 IDs (RFC 4868). NONE is used with AEAD. */
export const IntegId = {
  NONE: 0,
  HMAC_SHA2_256_128: 12,
  HMAC_SHA2_384_192: 13,
  HMAC_SHA2_512_256: 14,
} as const;
export type IntegId = (typeof IntegId)[keyof typeof IntegId];

/** Transform Type 4 IDs. 24 = RFC 5114 §2.3 2048-bit MODP with 256-bit prime-order subgroup. */
export const DhId = {
  NONE: 0,
  MODP_2048: 14,
  ECP_256: 19,
  ECP_384: 20,
  ECP_521: 21,
  MODP_2048_256: 24,
  CURVE_25519: 31,
} as const;
export type DhId = (typeof DhId)[keyof typeof DhId];

/** Transform Type 5. */
export const EsnId = {
  NO_ESN: 0,
  ESN: 1,
} as const;
export type EsnId = (typeof EsnId)[keyof typeof EsnId];

/** RFC 7296 §3.3.5 transform attribute: Key Length (TV format, AF bit set). */
export const ATTR_KEY_LENGTH = 14;

/** RFC 7296 §3.5 ID Type. */
export const IdType = {
  ID_IPV4_ADDR: 1,
  ID_FQDN: 2,
  ID_RFC822_ADDR: 3,
  ID_IPV6_ADDR: 5,
  ID_DER_ASN1_DN: 9,
  ID_DER_ASN1_GN: 10,
  ID_KEY_ID: 11,
} as const;
export type IdType = (typeof IdType)[keyof typeof IdType];

/** RFC 7296 §3.8 Auth Method. */
export const AuthMethod = {
  RSA_SIG: 1,
  SHARED_KEY_MIC: 2,
  DSS: 3,
  ECDSA_256: 9,
  ECDSA_384: 10,
  ECDSA_521: 11,
  NULL: 13,
  DIGITAL_SIGNATURE: 14,
} as const;
export type AuthMethod = (typeof AuthMethod)[keyof typeof AuthMethod];

/** RFC 7296 §3.13.1 Traffic Selector types. */
export const TsType = {
  TS_IPV4_ADDR_RANGE: 7,
  TS_IPV6_ADDR_RANGE: 8,
} as const;
export type TsType = (typeof TsType)[keyof typeof TsType];

/** RFC 7296 §3.15 CFG type. */
export const CfgType = {
  CFG_REQUEST: 1,
  CFG_REPLY: 2,
  CFG_SET: 3,
  CFG_ACK: 4,
} as const;

/** RFC 7296 §3.10.1 Notify Message Types (errors < 16384, status ≥ 16384). */
export const NotifyType = {
  UNSUPPORTED_CRITICAL_PAYLOAD: 1,
  INVALID_IKE_SPI: 4,
  INVALID_MAJOR_VERSION: 5,
  INVALID_SYNTAX: 7,
  INVALID_MESSAGE_ID: 9,
  INVALID_SPI: 11,
  NO_PROPOSAL_CHOSEN: 14,
  INVALID_KE_PAYLOAD: 17,
  AUTHENTICATION_FAILED: 24,
  SINGLE_PAIR_REQUIRED: 34,
  NO_ADDITIONAL_SAS: 35,
  INTERNAL_ADDRESS_FAILURE: 36,
  FAILED_CP_REQUIRED: 37,
  TS_UNACCEPTABLE: 38,
  INVALID_SELECTORS: 39,
  TEMPORARY_FAILURE: 43,
  CHILD_SA_NOT_FOUND: 44,
  INITIAL_CONTACT: 16384,
  SET_WINDOW_SIZE: 16385,
  ADDITIONAL_TS_POSSIBLE: 16386,
  IPCOMP_SUPPORTED: 16387,
  NAT_DETECTION_SOURCE_IP: 16388,
  NAT_DETECTION_DESTINATION_IP: 16389,
  COOKIE: 16390,
  USE_TRANSPORT_MODE: 16391,
  REKEY_SA: 16393,
  ESP_TFC_PADDING_NOT_SUPPORTED: 16394,
  NON_FIRST_FRAGMENTS_ALSO: 16395,
  MOBIKE_SUPPORTED: 16396,
  UPDATE_SA_ADDRESSES: 16400,
  COOKIE2: 16401,
  MULTIPLE_AUTH_SUPPORTED: 16404,
  REDIRECT_SUPPORTED: 16406,
  CHILDLESS_IKEV2_SUPPORTED: 16418,
  IKEV2_FRAGMENTATION_SUPPORTED: 16430,
  SIGNATURE_HASH_ALGORITHMS: 16431,
} as const;
export type NotifyType = (typeof NotifyType)[keyof typeof NotifyType];

/** Reverse lookup for log lines: 14 → "NO_PROPOSAL_CHOSEN". */
export function notifyName(type: number): string {
  for (const [k, v] of Object.entries(NotifyType)) if (v === type) return k;
  return `NOTIFY_${type}`;
}

export function exchangeName(type: number): string {
  for (const [k, v] of Object.entries(ExchangeType)) if (v === type) return k;
  return `EXCHANGE_${type}`;
}

export function payloadName(type: number): string {
  for (const [k, v] of Object.entries(PayloadType)) if (v === type) return k;
  return `PAYLOAD_${type}`;
}

/** RFC 7296 §3.10.1: error notifies are 1..16383. */
export function isErrorNotify(type: number): boolean {
  return type > 0 && type < 16384;
}
