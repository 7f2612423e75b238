/**
 * Interfaces between the IKE engine and its crypto building blocks. Implementations live in
 * sibling modules (prf.ts, dh.ts, sk-cipher.ts, keymat.ts, psk-auth.ts); the engine only sees these.
 */

/** An ephemeral Diffie-Hellman / ECDH key pair for one exchange (RFC 7296 §1.2, §3.4). */
export interface KeyExchange {
  readonly group: number;
  /** KE payload data as sent on the wire (RFC 7296 §3.4, RFC 5903 §7, RFC 8031 §2). */
  readonly publicValue: Uint8Array;
  /**
   * Shared secret g^ir in IKEv2 encoding (left-padded for MODP, x-coordinate for ECP).
   * Throws DhPeerValueError when the peer's value fails the RFC 6989 checks.
   */
  computeShared(peerPublic: Uint8Array): Uint8Array;
  /**
   * Forget the private value: OpenSSL's copy is overwritten where node:crypto allows it (MODP:
   * the exponent is replaced by 0, whose BIGNUM OpenSSL clears on free; ECP: the scalar is
   * replaced by 1) and our own references are dropped (X25519 KeyObjects cannot be overwritten
   * from JavaScript; they go with the garbage collector). computeShared throws afterwards.
   */
  wipe(): void;
}

export class DhPeerValueError extends Error {
  constructor(readonly group: number, detail: string) {
    super(`invalid peer public value for DH group ${group}: ${detail}`);
    this.name = 'DhPeerValueError';
  }
}

/**
 * Protection of the SK payload (RFC 7296 §3.14, RFC 5282). `aad` is the IKE header plus the SK
 * (or SKF) generic header with every length field already final. For AEAD it is the GCM AAD;
 * for AES-CBC + HMAC the ICV is computed over aad ‖ IV ‖ ciphertext, which is the same octets.
 */
export interface SkCipher {
  readonly ivLength: number;
  readonly icvLength: number;
  /** Length of IV ‖ ciphertext ‖ ICV for `plaintextLength` octets of inner payloads. */
  sealedLength(plaintextLength: number): number;
  /** Pads (RFC 7296 §3.14), encrypts and authenticates; returns IV ‖ ciphertext ‖ ICV. */
  seal(aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Verifies and decrypts IV ‖ ciphertext ‖ ICV; returns the inner payloads without padding, or null. */
  open(aad: Uint8Array, body: Uint8Array): Uint8Array | null;
}

/** RFC 7296 §2.14 keys of an IKE SA. SK_ai/SK_ar are empty for AEAD; SK_ei/SK_er include the 4-octet salt for GCM. */
export interface IkeKeys {
  skeyseed: Uint8Array;
  skD: Uint8Array;
  skAi: Uint8Array;
  skAr: Uint8Array;
  skEi: Uint8Array;
  skEr: Uint8Array;
  skPi: Uint8Array;
  skPr: Uint8Array;
}

/** RFC 7296 §2.17 Child SA keys. "i" keys protect initiator→responder traffic. GCM keys include the salt. */
export interface ChildKeys {
  encrI: Uint8Array;
  integI: Uint8Array;
  encrR: Uint8Array;
  integR: Uint8Array;
}
