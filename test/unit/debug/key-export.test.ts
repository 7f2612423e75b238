/**
 * src/debug/key-export.ts: the engine's export-keys record → wireshark-keys.ts input. The
 * records' keys are Secret copies: printed they are "(hidden)"; the writer reveals them, and
 * they are wiped after the write whether it worked or not.
 */
import { describe, expect, it } from 'vitest';
import type { KeyExport } from '../../../src/ike/actions.js';
import { EncrId, IntegId } from '../../../src/ike/constants.js';
import { Secret } from '../../../src/secret.js';
import { keyExportLines, writeKeyExport } from '../../../src/debug/key-export.js';
import { espSaLines, ikev2Line } from '../../../src/debug/wireshark-keys.js';

const seq = (n: number, start: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
const sec = (n: number, start: number): Secret => new Secret(seq(n, start));

function ikeRecord(): Extract<KeyExport, { sa: 'ike' }> {
  return {
    sa: 'ike', tunnel: 'gsa', spiI: '0011223344556677', spiR: '8899aabbccddeeff',
    encrId: EncrId.AES_CBC, encrKeyBits: 256, integId: IntegId.HMAC_SHA2_256_128,
    keys: { skEi: sec(32, 0x10), skEr: sec(32, 0x40), skAi: sec(32, 0x70), skAr: sec(32, 0xa0) },
  };
}

function childRecord(): Extract<KeyExport, { sa: 'child' }> {
  return {
    sa: 'child', tunnel: 'gsa',
    child: {
      tunnel: 'gsa', spiIn: 0xc1f2a3b4, spiOut: 0xbeef, encrId: EncrId.AES_GCM_16, encrKeyBits: 256, integId: IntegId.NONE, esn: false,
      encr: 'AES_GCM_16_256', integ: null, localTs: ['0.0.0.0/0'], remoteTs: ['0.0.0.0/0'],
      local: { address: '192.0.2.10', port: 4500 }, remote: { address: '20.245.111.21', port: 4500 }, encap: true, installedAt: 0, rekeyAt: 0,
    },
    keys: { encrIn: sec(36, 1), integIn: sec(0, 0), encrOut: sec(36, 101), integOut: sec(0, 0) },
  };
}

describe('key-export adapter', () => {
  it('renders the same lines as wireshark-keys.ts does from the revealed keys', () => {
    const ike = ikeRecord();
    expect(keyExportLines(ike)).toEqual({
      table: 'ikev2',
      lines: [ikev2Line({ spiI: ike.spiI, spiR: ike.spiR, encrId: ike.encrId, encrKeyBits: 256, integId: ike.integId,
        keys: { skEi: seq(32, 0x10), skEr: seq(32, 0x40), skAi: seq(32, 0x70), skAr: seq(32, 0xa0) } })],
    });
    const c = childRecord();
    expect(keyExportLines(c)).toEqual({
      table: 'esp',
      lines: espSaLines(c.child, { encrIn: seq(36, 1), integIn: new Uint8Array(0), encrOut: seq(36, 101), integOut: new Uint8Array(0) }),
    });
  });

  it('a record printed by mistake shows no key', () => {
    const text = JSON.stringify([ikeRecord(), childRecord()]);
    expect(text).toContain('(hidden)');
    expect(text).not.toContain(Buffer.from(seq(32, 0x10)).toString('hex'));
    expect(text).not.toContain('"0":');
  });

  it('writeKeyExport hands the writer the keys and wipes them, also when the write fails', () => {
    const got: string[] = [];
    const writer = {
      writeIkeSa: (sa: { keys: { skEi: Uint8Array } }) => void got.push(Buffer.from(sa.keys.skEi).toString('hex')),
      writeChildSa: () => {
        throw new Error('disk full');
      },
    };
    const ike = ikeRecord();
    writeKeyExport(writer, ike);
    expect(got).toEqual([Buffer.from(seq(32, 0x10)).toString('hex')]);
    for (const s of Object.values(ike.keys)) expect(s.reveal().every((b) => b === 0)).toBe(true);
    const c = childRecord();
    expect(() => writeKeyExport(writer, c)).toThrow('disk full');
    for (const s of Object.values(c.keys)) expect(s.reveal().every((b) => b === 0)).toBe(true);
  });
});
