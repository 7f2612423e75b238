/** One direction of a Child SA as a datapath needs it (keys include the AEAD salt). */
export interface EspSaParams {
  spi: number;
  /** IANA Transform Type 1 ID and its Key Length attribute (0 when the transform has none). */
  encrId: number;
  encrKeyBits: number;
  /** Transform Type 3 ID; 0 (NONE) with an AEAD cipher. */
  integId: number;
  encrKey: Uint8Array;
  integKey: Uint8Array;
  esn: boolean;
}
