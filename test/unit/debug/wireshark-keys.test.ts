/**
 * The Wireshark key export, checked line by line against the formats Wireshark itself defines:
 *
 * - esp_sa: epan/dissectors/packet-ipsec.c, `esp_uat_flds` = Protocol, Src IP, Dest IP, SPI,
 *   Encryption, Encryption Key, Authentication, Authentication Key (all quoted strings); names
 *   from `esp_encryption_type_vals` ("AES-GCM with 16 octet ICV [RFC4106]", "AES-CBC [RFC3602]")
 *   and `esp_authentication_type_vals` ("NULL", "HMAC-SHA-256-128 [RFC4868]"); the GCM key is
 *   key ‖ 4-octet salt (dissect_esp: esp_salt_len = 4; esp_encr_key_len -= esp_salt_len).
 * - ikev2_decryption_table: epan/dissectors/packet-isakmp.c, `ikev2_uat_flds` = Initiator's SPI,
 *   Responder's SPI, SK_ei, SK_er, Encryption algorithm, SK_ai, SK_ar, Integrity algorithm; the
 *   SPIs and keys are UAT_FLD_BUFFER (bare lowercase hex, epan/uat.c putfld "%02x"), the
 *   algorithms quoted names from `vs_ikev2_encr_algs` / `vs_ikev2_auth_algs`; GCM keys include
 *   the salt (ikev2_encr_algs: AES-GCM-256 key_len 36, salt_len 4).
 * - File syntax: epan/uat_load.l (quoted_string, binstring, separator ',', comment '#…\n').
 * strongSwan's save-keys plugin (save_keys_listener.c) writes the same layout.
 */
import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChildSaInfo, ChildSaKeys } from '../../../src/ike/actions.js';
import { EncrId, IntegId } from '../../../src/ike/constants.js';
import type { IkeKeys } from '../../../src/ike/crypto/types.js';
import { Secret } from '../../../src/secret.js';
import {
  WiresharkKeyWriter, espSaLines, ikev2Line, wiresharkKeyPaths, wiresharkKeysWarning, type IkeSaKeyExport,
} from '../../../src/debug/wireshark-keys.js';

/** n octets start, start+1, … (mod 256): every key is recognisable in the output. */
function seq(n: number, start: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
}
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function child(p: Partial<ChildSaInfo> = {}): ChildSaInfo {
  return {
    tunnel: 'gsa-primary', spiIn: 0xc1f2a3b4, spiOut: 0x0000beef,
    encrId: EncrId.AES_GCM_16, encrKeyBits: 256, integId: IntegId.NONE, esn: false,
    encr: 'AES_GCM_16_256', integ: null, localTs: ['0.0.0.0/0'], remoteTs: ['0.0.0.0/0'],
    local: { address: '192.0.2.10', port: 4500 }, remote: { address: '20.245.111.21', port: 4500 },
    encap: true, installedAt: 0, rekeyAt: 0, ...p,
  };
}

/**
 * A tiny reader of the UAT syntax in epan/uat_load.l, to check the records parse back into
 * exactly 8 fields with the intended values (quoted strings unescaped, binstrings as hex).
 */
function readUat(text: string): string[][] {
  const records: string[][] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const fields: string[] = [];
    const re = /\s*(?:"((?:[^"\\]|\\x[0-9a-f]{2})*)"|([0-9a-zA-Z]*))\s*(,|$)/y;
    let m: RegExpExecArray | null;
    while (re.lastIndex < line.length && (m = re.exec(line)) !== null) {
      fields.push(m[1] !== undefined ? m[1].replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))) : m[2]!);
      if (m[3] === '') break;
    }
    expect(re.lastIndex, `unparsed rest of ${line}`).toBe(line.length);
    records.push(fields);
  }
  return records;
}

describe('esp_sa records', () => {
  it('AES-GCM-16-256: outbound then inbound, key = 32-octet key ‖ 4-octet salt, NULL authentication', () => {
    const keys: ChildSaKeys = { encrIn: seq(36, 0x00), integIn: new Uint8Array(0), encrOut: seq(36, 0x80), integOut: new Uint8Array(0) };
    const lines = espSaLines(child(), keys);
    expect(lines).toEqual([
      `"IPv4","192.0.2.10","20.245.111.21","0x0000beef","AES-GCM with 16 octet ICV [RFC4106]","0x${hex(seq(36, 0x80))}","NULL","0x"`,
      `"IPv4","20.245.111.21","192.0.2.10","0xc1f2a3b4","AES-GCM with 16 octet ICV [RFC4106]","0x${hex(seq(36, 0x00))}","NULL","0x"`,
    ]);
    // The salt (KEYMAT octets 32..35) is the last 4 octets of the key field, as Wireshark expects.
    const [out] = readUat(lines.join('\n'));
    expect(out).toHaveLength(8);
    expect(out![5]).toBe(`0x${'808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'}${'a0a1a2a3'}`);
  });

  it('AES-CBC-128 + HMAC-SHA2-256-128, AES-GCM 8/12, IPv6 addresses', () => {
    const keys: ChildSaKeys = { encrIn: seq(16, 1), integIn: seq(32, 0x21), encrOut: seq(16, 0x41), integOut: seq(32, 0x61) };
    const lines = espSaLines(child({ encrId: EncrId.AES_CBC, encrKeyBits: 128, integId: IntegId.HMAC_SHA2_256_128 }), keys);
    expect(lines[1]).toBe(
      `"IPv4","20.245.111.21","192.0.2.10","0xc1f2a3b4","AES-CBC [RFC3602]","0x${hex(seq(16, 1))}","HMAC-SHA-256-128 [RFC4868]","0x${hex(seq(32, 0x21))}"`);
    const gcm8 = espSaLines(child({ encrId: EncrId.AES_GCM_8, encrKeyBits: 128, local: { address: '2001:db8::1', port: 4500 }, remote: { address: '2001:db8::2', port: 4500 } }),
      { encrIn: seq(20, 0), integIn: new Uint8Array(0), encrOut: seq(20, 0), integOut: new Uint8Array(0) });
    expect(gcm8[0]).toMatch(/^"IPv6","2001:db8::1","2001:db8::2","0x0000beef","AES-GCM with 8 octet ICV \[RFC4106\]",/);
    expect(espSaLines(child({ encrId: EncrId.AES_GCM_12, encrKeyBits: 128 }),
      { encrIn: seq(20, 0), integIn: new Uint8Array(0), encrOut: seq(20, 0), integOut: new Uint8Array(0) })[0]).toContain('"AES-GCM with 12 octet ICV [RFC4106]"');
  });

  it('refuses keys whose size does not match the transform (a GCM key without its salt)', () => {
    const noSalt: ChildSaKeys = { encrIn: seq(32, 0), integIn: new Uint8Array(0), encrOut: seq(32, 0), integOut: new Uint8Array(0) };
    expect(() => espSaLines(child(), noSalt)).toThrow(/key sizes do not match AES_GCM_16_256 \(encryption 36 octets incl\. salt, integrity 0\)/);
  });
});

describe('ikev2_decryption_table records', () => {
  const spiI = Uint8Array.from([0x1a, 0x2b, 0x3c, 0x4d, 0x5e, 0x6f, 0x70, 0x81]);
  const spiR = Uint8Array.from([0x91, 0xa2, 0xb3, 0xc4, 0xd5, 0xe6, 0xf7, 0x08]);

  it('AES-GCM-16-256: SK_e* with salt, empty SK_a*, integrity NONE', () => {
    const line = ikev2Line({ spiI, spiR, encrId: EncrId.AES_GCM_16, encrKeyBits: 256, integId: IntegId.NONE,
      keys: { skEi: seq(36, 0x10), skEr: seq(36, 0x50), skAi: new Uint8Array(0), skAr: new Uint8Array(0) } });
    expect(line).toBe(`1a2b3c4d5e6f7081,91a2b3c4d5e6f708,${hex(seq(36, 0x10))},${hex(seq(36, 0x50))},"AES-GCM-256 with 16 octet ICV [RFC5282]",,,"NONE [RFC4306]"`);
    expect(readUat(line)[0]).toEqual(['1a2b3c4d5e6f7081', '91a2b3c4d5e6f708', hex(seq(36, 0x10)), hex(seq(36, 0x50)),
      'AES-GCM-256 with 16 octet ICV [RFC5282]', '', '', 'NONE [RFC4306]']);
  });

  it('AES-CBC-256 + HMAC-SHA2-384-192, SPIs given as hex', () => {
    const line = ikev2Line({ spiI: '1A2B3C4D5E6F7081', spiR: '0x91a2b3c4d5e6f708', encrId: EncrId.AES_CBC, encrKeyBits: 256,
      integId: IntegId.HMAC_SHA2_384_192, keys: { skEi: seq(32, 0), skEr: seq(32, 0x20), skAi: seq(48, 0x40), skAr: seq(48, 0x70) } });
    expect(line).toBe(`1a2b3c4d5e6f7081,91a2b3c4d5e6f708,${hex(seq(32, 0))},${hex(seq(32, 0x20))},"AES-CBC-256 [RFC3602]",${hex(seq(48, 0x40))},${hex(seq(48, 0x70))},"HMAC_SHA2_384_192 [RFC4868]"`);
  });

  it('refuses a short SPI', () => {
    expect(() => ikev2Line({ spiI: 'abcd', spiR, encrId: EncrId.AES_GCM_16, encrKeyBits: 128, integId: 0,
      keys: { skEi: seq(20, 0), skEr: seq(20, 0), skAi: new Uint8Array(0), skAr: new Uint8Array(0) } })).toThrow(/IKE SPI must be 8 octets/);
  });
});

describe('WiresharkKeyWriter', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  const PSK = 'correct horse battery staple';
  const gcmKeys = (): ChildSaKeys => ({ encrIn: seq(36, 0x00), integIn: new Uint8Array(0), encrOut: seq(36, 0x80), integOut: new Uint8Array(0) });
  /** An IKE SA as the engine holds it: with SKEYSEED, SK_d, SK_p* and a PSK beside the exported keys. */
  const ikeSa = () => {
    const keys = { skeyseed: seq(48, 0xe0), skD: seq(48, 0xd0), skPi: seq(48, 0xb0), skPr: seq(48, 0xc0),
      skEi: seq(36, 0x10), skEr: seq(36, 0x50), skAi: new Uint8Array(0), skAr: new Uint8Array(0) };
    const sa: IkeSaKeyExport & { keys: IkeKeys; psk: Secret; pskText: string } = {
      spiI: seq(8, 0x11), spiR: seq(8, 0x22), encrId: EncrId.AES_GCM_16, encrKeyBits: 256, integId: 0, keys,
      psk: Secret.fromString(PSK), pskText: PSK,
    };
    return sa;
  };

  it('creates both tables 0600 with a comment header, appends, and writes nothing but the table fields', () => {
    dir = mkdtempSync(join(tmpdir(), 'bg-ws-'));
    const paths = wiresharkKeyPaths(join(dir, 'keys'));
    expect(paths).toEqual({ esp: join(dir, 'keys', 'esp_sa'), ikev2: join(dir, 'keys', 'ikev2_decryption_table') });
    const w = new WiresharkKeyWriter(paths);
    const sa = ikeSa();
    w.writeIkeSa(sa);
    const extra = Object.assign(gcmKeys(), { psk: Secret.fromString(PSK), skD: seq(48, 0xd0) });
    w.writeChildSa(child(), extra);
    w.writeChildSa(child({ spiIn: 0x11111111, spiOut: 0x22222222 }), gcmKeys());

    for (const p of [paths.esp, paths.ikev2]) expect(statSync(p).mode & 0o777).toBe(0o600);
    const esp = readFileSync(paths.esp, 'utf8');
    const ike = readFileSync(paths.ikev2, 'utf8');
    expect(esp.startsWith('# branchgate: Wireshark ESP SA table (esp_sa).')).toBe(true);
    expect(readUat(esp).map((r) => r[3])).toEqual(['0x0000beef', '0xc1f2a3b4', '0x22222222', '0x11111111']);
    expect(readUat(ike)).toHaveLength(1);
    expect(ike.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual([ikev2Line(sa)]);

    // Nothing else: no PSK (raw, hex, base64), no SKEYSEED, SK_d, SK_pi, SK_pr.
    const all = esp + ike;
    const pskBytes = Buffer.from(PSK);
    for (const needle of [PSK, pskBytes.toString('hex'), pskBytes.toString('base64'), '(hidden)',
      hex(sa.keys.skeyseed), hex(sa.keys.skD), hex(sa.keys.skPi), hex(sa.keys.skPr)]) {
      expect(all).not.toContain(needle);
    }
  });

  it('never truncates existing user data; keeps it on its own line; tightens a readable file to 0600', () => {
    dir = mkdtempSync(join(tmpdir(), 'bg-ws-'));
    const paths = wiresharkKeyPaths(dir);
    const mine = '"IPv4","10.0.0.1","10.0.0.2","0x00000001","NULL","0x","NULL","0x"'; // no final newline
    writeFileSync(paths.esp, mine);
    chmodSync(paths.esp, 0o644);
    new WiresharkKeyWriter(paths).writeChildSa(child(), gcmKeys());
    const text = readFileSync(paths.esp, 'utf8');
    expect(text.startsWith(`${mine}\n"IPv4","192.0.2.10"`)).toBe(true);
    expect(text).not.toContain('# branchgate'); // header only in files we create
    expect(readUat(text)).toHaveLength(3);
    expect(statSync(paths.esp).mode & 0o777).toBe(0o600);
  });

  it('refuses to follow a symlink', () => {
    dir = mkdtempSync(join(tmpdir(), 'bg-ws-'));
    const target = join(dir, 'elsewhere');
    writeFileSync(target, '');
    const paths = wiresharkKeyPaths(join(dir, 'd'));
    new WiresharkKeyWriter(paths).writeIkeSa(ikeSa()); // creates d/
    symlinkSync(target, paths.esp);
    expect(lstatSync(paths.esp).isSymbolicLink()).toBe(true);
    expect(() => new WiresharkKeyWriter(paths).writeChildSa(child(), gcmKeys())).toThrow(/ELOOP/);
    expect(readFileSync(target, 'utf8')).toBe('');
  });

  it('has a loud warning naming both files', () => {
    const text = wiresharkKeysWarning(wiresharkKeyPaths('/var/lib/branchgate/wireshark'));
    expect(text).toBe('!! WARNING: SAVING IKE AND ESP KEYS to /var/lib/branchgate/wireshark/esp_sa and ' +
      '/var/lib/branchgate/wireshark/ikev2_decryption_table (debug.wiresharkKeys). Anyone who can read these files ' +
      'and a capture can decrypt this traffic. Turn debug.wiresharkKeys off after debugging and delete the files.');
  });
});
