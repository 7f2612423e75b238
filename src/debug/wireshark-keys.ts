/**
 * Debug export of SA keys as Wireshark decryption tables, so a capture of a tunnel can be
 * decrypted. Off by default; when on, the daemon logs wiresharkKeysWarning() at warn level on
 * every start (docs/architecture.md, rule 7: keys leave the process only through this explicit export).
 * The same idea as strongSwan's save-keys plugin (src/libcharon/plugins/save_keys), whose output
 * is the proven reference for both formats.
 *
 * Formats are Wireshark UAT ("user access table") files, read from the profile directory:
 *
 * `esp_sa` — fields of esp_uat_flds in epan/dissectors/packet-ipsec.c:
 *   Protocol ("IPv4"|"IPv6"), Src IP, Dest IP, SPI, Encryption, Encryption Key, Authentication,
 *   Authentication Key. All are strings, so all are written double-quoted. The SPI is matched
 *   with strtoul(…, 0), written "0x%08x" as strongSwan does. Keys starting with "0x" are read
 *   as hex (compute_ascii_key). Names are the value strings of esp_encryption_type_vals /
 *   esp_authentication_type_vals, e.g. "AES-GCM with 16 octet ICV [RFC4106]" and "NULL".
 *   For AES-GCM the key is KEYMAT's key *and* its 4-octet salt (RFC 4106 §8.1): Wireshark takes
 *   the last 4 octets as the salt (esp_salt_len = 4; esp_encr_key_len -= esp_salt_len) and
 *   requires NULL authentication with it.
 *
 * `ikev2_decryption_table` — fields of ikev2_uat_flds in epan/dissectors/packet-isakmp.c:
 *   Initiator's SPI, Responder's SPI, SK_ei, SK_er, Encryption algorithm, SK_ai, SK_ar,
 *   Integrity algorithm. SPIs and keys are UAT_FLD_BUFFER, written as bare lowercase hex
 *   (uat.c putfld, PT_TXTMOD_HEXBYTES "%02x"); the algorithms are quoted value strings of
 *   vs_ikev2_encr_algs / vs_ikev2_auth_algs. AES-GCM SK_e* include the salt (ikev2_encr_algs:
 *   key_len 20/28/36, salt_len 4, RFC 5282 §7.1); AEAD has integrity "NONE [RFC4306]" and empty
 *   SK_a* fields.
 *
 * Quoting follows uat.c putfld: inside quotes, '"', '\' and non-printable octets become \xNN.
 * Lines starting with '#' are comments (uat_load.l {comment}). Records end with '\n'.
 *
 * Only these fields are written: never the PSK, SKEYSEED, SK_d or SK_pi/SK_pr.
 */
import { closeSync, constants, fchmodSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ChildSaInfo, ChildSaKeys } from '../ike/actions.js';
import type { IkeKeys } from '../ike/crypto/types.js';
import { EncrId, IntegId } from '../ike/constants.js';
import { encrInfo, integInfo } from '../ike/crypto/transforms.js';

/** What the IKEv2 table needs of an IKE SA: its SPIs, SK_e*, SK_a* and the algorithm ids. */
export interface IkeSaKeyExport {
  /** The 8-octet SPIs as in the IKE header (bytes or 16 hex digits). */
  spiI: Uint8Array | string;
  spiR: Uint8Array | string;
  encrId: number;
  encrKeyBits: number;
  /** 0 (NONE) for AEAD. */
  integId: number;
  /** The engine's IkeKeys can be passed as they are: only these four fields are read. */
  keys: Pick<IkeKeys, 'skEi' | 'skEr' | 'skAi' | 'skAr'>;
}

const GCM_ICV: ReadonlyMap<number, number> = new Map([[EncrId.AES_GCM_8, 8], [EncrId.AES_GCM_12, 12], [EncrId.AES_GCM_16, 16]]);

/**
 * packet-ipsec.c esp_encryption_type_vals. The GCM names with the ICV length came with Wireshark
 * merge request !3444; older releases know only "AES-GCM [RFC4106]" (with "ANY 128 bit
 * authentication [no checking]"), which is what strongSwan's save-keys still writes.
 */
function espEncrName(id: number): string {
  if (id === EncrId.NULL) return 'NULL';
  if (id === EncrId.AES_CBC) return 'AES-CBC [RFC3602]';
  const icv = GCM_ICV.get(id);
  if (icv !== undefined) return `AES-GCM with ${icv} octet ICV [RFC4106]`;
  throw new RangeError(`no Wireshark esp_sa name for encryption transform ${id}`);
}

/** packet-ipsec.c esp_authentication_type_vals. */
const ESP_INTEG: ReadonlyMap<number, string> = new Map([
  [IntegId.NONE, 'NULL'],
  [IntegId.HMAC_SHA2_256_128, 'HMAC-SHA-256-128 [RFC4868]'],
  [IntegId.HMAC_SHA2_384_192, 'HMAC-SHA-384-192 [RFC4868]'],
  [IntegId.HMAC_SHA2_512_256, 'HMAC-SHA-512-256 [RFC4868]'],
]);

/** packet-isakmp.c vs_ikev2_encr_algs. */
function ikeEncrName(id: number, bits: number): string {
  if (id === EncrId.NULL) return 'NULL [RFC2410]';
  if (id === EncrId.AES_CBC) return `AES-CBC-${bits} [RFC3602]`;
  const icv = GCM_ICV.get(id);
  if (icv !== undefined) return `AES-GCM-${bits} with ${icv} octet ICV [RFC5282]`;
  throw new RangeError(`no Wireshark ikev2_decryption_table name for encryption transform ${id}`);
}

/** packet-isakmp.c vs_ikev2_auth_algs. */
const IKE_INTEG: ReadonlyMap<number, string> = new Map([
  [IntegId.NONE, 'NONE [RFC4306]'],
  [IntegId.HMAC_SHA2_256_128, 'HMAC_SHA2_256_128 [RFC4868]'],
  [IntegId.HMAC_SHA2_384_192, 'HMAC_SHA2_384_192 [RFC4868]'],
  [IntegId.HMAC_SHA2_512_256, 'HMAC_SHA2_512_256 [RFC4868]'],
]);

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** uat.c putfld for string fields. */
function quote(s: string): string {
  let out = '"';
  for (const ch of Buffer.from(s, 'utf8')) {
    out += ch === 0x22 || ch === 0x5c || ch < 0x20 || ch > 0x7e ? `\\x${ch.toString(16).padStart(2, '0')}` : String.fromCharCode(ch);
  }
  return `${out}"`;
}

/** Refuse keys of the wrong size: a table Wireshark silently fails to use is worse than an error. */
function checkSizes(what: string, encrId: number, bits: number, integId: number, encr: Uint8Array[], integ: Uint8Array[]): void {
  const e = encrInfo(encrId, bits);
  if (!e) throw new RangeError(`${what}: unsupported encryption transform ${encrId}/${bits}`);
  const i = e.aead ? 0 : integInfo(integId)?.keyBytes;
  if (i === undefined) throw new RangeError(`${what}: unsupported integrity transform ${integId}`);
  if (e.aead && integId !== IntegId.NONE) throw new RangeError(`${what}: AEAD cipher with integrity transform ${integId}`);
  if (encr.some((k) => k.length !== e.keyBytes + e.saltBytes) || integ.some((k) => k.length !== i)) {
    throw new RangeError(`${what}: key sizes do not match ${e.name} (encryption ${e.keyBytes + e.saltBytes} octets incl. salt, integrity ${i})`);
  }
}

function spiHex(spi: Uint8Array | string): string {
  const h = typeof spi === 'string' ? spi.toLowerCase().replace(/^0x/, '') : hex(spi);
  if (!/^[0-9a-f]{16}$/.test(h)) throw new RangeError(`IKE SPI must be 8 octets, got ${JSON.stringify(typeof spi === 'string' ? spi : h)}`);
  return h;
}

/**
 * The two esp_sa records of a Child SA: outbound (local → remote, the peer's SPI, our "out"
 * keys) then inbound (remote → local, our SPI, "in" keys). Addresses are the outer ones as a
 * capture on this host sees them (behind NAT: the private address).
 */
export function espSaLines(child: ChildSaInfo, keys: ChildSaKeys): string[] {
  checkSizes(`Child SA ${child.tunnel}`, child.encrId, child.encrKeyBits, child.integId, [keys.encrIn, keys.encrOut], [keys.integIn, keys.integOut]);
  const family = child.local.address.includes(':') ? 'IPv6' : 'IPv4';
  const encr = espEncrName(child.encrId);
  const integ = ESP_INTEG.get(child.integId);
  if (integ === undefined) throw new RangeError(`no Wireshark esp_sa name for integrity transform ${child.integId}`);
  const line = (src: string, dst: string, spi: number, ek: Uint8Array, ik: Uint8Array): string =>
    [family, src, dst, `0x${(spi >>> 0).toString(16).padStart(8, '0')}`, encr, `0x${hex(ek)}`, integ, `0x${hex(ik)}`].map(quote).join(',');
  return [
    line(child.local.address, child.remote.address, child.spiOut, keys.encrOut, keys.integOut),
    line(child.remote.address, child.local.address, child.spiIn, keys.encrIn, keys.integIn),
  ];
}

/** The ikev2_decryption_table record of an IKE SA. */
export function ikev2Line(sa: IkeSaKeyExport): string {
  const k = sa.keys;
  checkSizes('IKE SA', sa.encrId, sa.encrKeyBits, sa.integId, [k.skEi, k.skEr], [k.skAi, k.skAr]);
  const integ = IKE_INTEG.get(sa.integId);
  if (integ === undefined) throw new RangeError(`no Wireshark ikev2_decryption_table name for integrity transform ${sa.integId}`);
  return [spiHex(sa.spiI), spiHex(sa.spiR), hex(k.skEi), hex(k.skEr), quote(ikeEncrName(sa.encrId, sa.encrKeyBits)),
    hex(k.skAi), hex(k.skAr), quote(integ)].join(',');
}

export interface WiresharkKeyPaths {
  esp: string;
  ikev2: string;
}

/** The two table files inside DIR, named as Wireshark's profile directory expects them. */
export function wiresharkKeyPaths(dir: string): WiresharkKeyPaths {
  return { esp: join(dir, 'esp_sa'), ikev2: join(dir, 'ikev2_decryption_table') };
}

/** The text the daemon logs (warn) at start when the export is on, and again on reload. */
export function wiresharkKeysWarning(paths: WiresharkKeyPaths): string {
  return `!! WARNING: SAVING IKE AND ESP KEYS to ${paths.esp} and ${paths.ikev2} (debug.wiresharkKeys). ` +
    'Anyone who can read these files and a capture can decrypt this traffic. ' +
    'Turn debug.wiresharkKeys off after debugging and delete the files.';
}

const HEADER: Record<keyof WiresharkKeyPaths, string> = {
  esp: '# branchgate: Wireshark ESP SA table (esp_sa). SECRET KEYS: delete this file after use.\n',
  ikev2: '# branchgate: Wireshark IKEv2 decryption table (ikev2_decryption_table). SECRET KEYS: delete this file after use.\n',
};

/**
 * Appends records to the two tables. Each file is opened for one append and closed again, so
 * the user may move or delete it at any time; it is created 0600 if absent, an existing file
 * is never truncated (and is tightened to 0600 if others could read it), and a symlink is
 * refused (the daemon may run with privileges; the path is the user's).
 */
export class WiresharkKeyWriter {
  constructor(readonly paths: WiresharkKeyPaths) {}

  writeChildSa(child: ChildSaInfo, keys: ChildSaKeys): void {
    this.#append('esp', espSaLines(child, keys));
  }

  writeIkeSa(sa: IkeSaKeyExport): void {
    this.#append('ikev2', [ikev2Line(sa)]);
  }

  #append(table: keyof WiresharkKeyPaths, lines: string[]): void {
    const path = this.paths[table];
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // O_RDWR for the one pread below; O_APPEND still puts every write at the end.
    const fd = openSync(path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new Error(`${path} is not a regular file`);
      if ((st.mode & 0o077) !== 0) fchmodSync(fd, 0o600);
      let prefix = HEADER[table];
      if (st.size > 0) {
        const last = Buffer.alloc(1);
        readSync(fd, last, 0, 1, st.size - 1);
        prefix = last[0] === 0x0a ? '' : '\n'; // never glue a record onto the user's last line
      }
      writeSync(fd, `${prefix}${lines.join('\n')}\n`);
    } finally {
      closeSync(fd);
    }
  }
}
