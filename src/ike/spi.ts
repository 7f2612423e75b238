/** SPIs as the engine prints and sends them: IKE SPIs as hex (RFC 7296 §3.1), ESP SPIs as 32-bit numbers. */

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

export function spiHex(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

export function spiBytes(n: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return new Uint8Array(b);
}
