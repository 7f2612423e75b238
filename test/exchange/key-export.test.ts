/**
 * The Wireshark key export (EngineOptions.exportKeys): with the option on,
 * the engine's export-keys records carry exactly the keys the peer engine derived (checked
 * against the other engine's state and the keys in its install-child actions), for the IKE SA
 * and each Child SA, at establishment and at every rekey; they render through
 * src/debug/wireshark-keys.ts. With it off, nothing is ever exported. No other action (log,
 * event, send, the export action itself when printed) contains a key in hex.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { I, Net, R, expectEstablishedPair, initiatorTunnel, responderTunnel, seeded, type Node } from './harness.js';
import type { Action, KeyExport } from '../../src/ike/actions.js';
import type { IkeSa } from '../../src/ike/sa.js';
import { PayloadType } from '../../src/ike/constants.js';
import { decodeOrFail } from './harness.js';
import { childSaKeys, ikeSaKeyExport, keyExportLines, writeKeyExport } from '../../src/debug/key-export.js';
import { WiresharkKeyWriter, wiresharkKeyPaths } from '../../src/debug/wireshark-keys.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
type IkeRec = Extract<KeyExport, { sa: 'ike' }>;
type ChildRec = Extract<KeyExport, { sa: 'child' }>;
const ikeRecs = (n: Node): IkeRec[] => n.exported.filter((k): k is IkeRec => k.sa === 'ike');
const childRecs = (n: Node): ChildRec[] => n.exported.filter((k): k is ChildRec => k.sa === 'child');

function setup(o: { ike?: string[]; esp?: string[]; exportI?: boolean; exportR?: boolean } = {}): { net: Net; i: Node; r: Node } {
  const ike = o.ike ?? ['aes128gcm16-prfsha256-ecp256'];
  const esp = o.esp ?? ['aes128gcm16'];
  const net = new Net();
  const i = net.add(I, [initiatorTunnel({ ike, esp })], { random: seeded(31), exportKeys: o.exportI ?? true });
  const r = net.add(R, [responderTunnel({ ike, esp })], { random: seeded(32), exportKeys: o.exportR ?? true });
  net.start(I);
  expectEstablishedPair(net);
  return { net, i, r };
}

const sa = (n: Node): IkeSa => n.engine.tunnels.get(n.engine.tunnelNames()[0]!)!.sa!;

/** The IKE record equals this SA's keys: the ones the engine protects its messages with. */
function expectIkeRecordMatches(rec: IkeRec, peer: IkeSa): void {
  expect(rec.spiI).toBe(hex(peer.spiI));
  expect(rec.spiR).toBe(hex(peer.spiR));
  expect([rec.encrId, rec.encrKeyBits, rec.integId]).toEqual([peer.suite!.encrId, peer.suite!.encrKeyBits, peer.suite!.integId]);
  const k = peer.keys!;
  expect(hex(rec.keys.skEi.reveal())).toBe(hex(k.skEi));
  expect(hex(rec.keys.skEr.reveal())).toBe(hex(k.skEr));
  expect(hex(rec.keys.skAi.reveal())).toBe(hex(k.skAi));
  expect(hex(rec.keys.skAr.reveal())).toBe(hex(k.skAr));
}

/** A Child record of one side is the mirror of what the peer installed in its datapath. */
function expectChildRecordMirrors(rec: ChildRec, peer: Node): void {
  const theirs = peer.installed.get(rec.child.spiOut);
  expect(theirs, `peer installed ${rec.child.spiOut.toString(16)}`).toBeDefined();
  expect(theirs!.info.spiOut).toBe(rec.child.spiIn);
  const k = childSaKeys(rec);
  expect(hex(k.encrOut)).toBe(hex(theirs!.keys.encrIn));
  expect(hex(k.integOut)).toBe(hex(theirs!.keys.integIn));
  expect(hex(k.encrIn)).toBe(hex(theirs!.keys.encrOut));
  expect(hex(k.integIn)).toBe(hex(theirs!.keys.integOut));
}

/** Every action but install-child (the datapath's own copy) and export-keys, as JSON with bytes in hex. */
function otherActionsJson(n: Node): string {
  const rest = n.actions.map((a) => a.action).filter((a: Action) => a.kind !== 'install-child' && a.kind !== 'export-keys');
  return JSON.stringify(rest, (_k, v: unknown) => (v instanceof Uint8Array ? hex(v) : v));
}

let dir: string | null = null;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

describe('Wireshark key export (EngineOptions.exportKeys)', () => {
  it('AES-GCM: the IKE and Child SA records hold the keys the peer derived, and render as Wireshark table lines', () => {
    const { i, r } = setup();
    expect(i.exported.map((k) => k.sa)).toEqual(['ike', 'child']);
    expect(r.exported.map((k) => k.sa)).toEqual(['ike', 'child']);
    const [ikeI] = ikeRecs(i);
    const [ikeR] = ikeRecs(r);
    expectIkeRecordMatches(ikeI!, sa(r));
    expectIkeRecordMatches(ikeR!, sa(i));
    expect(ikeI!.tunnel).toBe('gsa');
    const st = i.engine.status(0)[0]!;
    expect([ikeI!.spiI, ikeI!.spiR]).toEqual([st.ike!.spiI, st.ike!.spiR]);
    expectChildRecordMirrors(childRecs(i)[0]!, r);
    expectChildRecordMirrors(childRecs(r)[0]!, i);

    // The ikev2_decryption_table record: SPIs and keys as bare hex, AEAD: empty SK_a, NONE.
    const k = sa(r).keys!;
    expect(k.skEi.length).toBe(20); // 16-octet key + 4-octet salt (RFC 5282 §7.1)
    expect(keyExportLines(ikeI!)).toEqual({
      table: 'ikev2',
      lines: [`${st.ike!.spiI},${st.ike!.spiR},${hex(k.skEi)},${hex(k.skEr)},"AES-GCM-128 with 16 octet ICV [RFC5282]",,,"NONE [RFC4306]"`],
    });
    // The esp_sa records: outbound then inbound, with the addresses as captured on this host.
    const c = childRecs(i)[0]!;
    const peerKeys = r.installed.get(c.child.spiOut)!.keys;
    const spi = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;
    expect(keyExportLines(c)).toEqual({
      table: 'esp',
      lines: [
        `"IPv4","${I}","${R}","${spi(c.child.spiOut)}","AES-GCM with 16 octet ICV [RFC4106]","0x${hex(peerKeys.encrIn)}","NULL","0x"`,
        `"IPv4","${R}","${I}","${spi(c.child.spiIn)}","AES-GCM with 16 octet ICV [RFC4106]","0x${hex(peerKeys.encrOut)}","NULL","0x"`,
      ],
    });
  });

  it('written with WiresharkKeyWriter: the files hold the lines, and the records are wiped after writing', () => {
    const { i } = setup();
    const expected = i.exported.map(keyExportLines);
    dir = mkdtempSync(join(tmpdir(), 'bg-keys-'));
    const paths = wiresharkKeyPaths(join(dir, 'profile'));
    const writer = new WiresharkKeyWriter(paths);
    for (const rec of i.exported) writeKeyExport(writer, rec);
    const ikev2 = readFileSync(paths.ikev2, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    const esp = readFileSync(paths.esp, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(ikev2).toEqual(expected.filter((e) => e.table === 'ikev2').flatMap((e) => e.lines));
    expect(esp).toEqual(expected.filter((e) => e.table === 'esp').flatMap((e) => e.lines));
    for (const rec of i.exported) for (const s of Object.values(rec.keys)) expect(s.reveal().every((b) => b === 0)).toBe(true);
    // The engine's own keys are not the exported copies: the tunnel still works.
    expect(sa(i).keys!.skEi.some((b) => b !== 0)).toBe(true);
  });

  it('AES-CBC + HMAC, then a Child SA rekey and an IKE SA rekey: a record for each new SA, equal to the peer\'s keys', () => {
    const { net, i, r } = setup({ ike: ['aes256-sha256-ecp256'], esp: ['aes256-sha256'] });
    const first = ikeRecs(i)[0]!;
    const firstHex = hex(first.keys.skAi.reveal());
    expect(first.keys.skAi.reveal().length).toBe(32);
    expect(keyExportLines(first).lines[0]).toMatch(/,"AES-CBC-256 \[RFC3602\]",[0-9a-f]{64},[0-9a-f]{64},"HMAC_SHA2_256_128 \[RFC4868\]"$/);
    expect(keyExportLines(childRecs(i)[0]!).lines[0]).toContain('"AES-CBC [RFC3602]"');
    expect(keyExportLines(childRecs(i)[0]!).lines[0]).toContain('"HMAC-SHA-256-128 [RFC4868]"');

    net.perform(i, i.engine.rekey('gsa', 'child', net.now));
    net.run();
    expect(childRecs(i)).toHaveLength(2);
    expect(childRecs(r)).toHaveLength(2);
    expectChildRecordMirrors(childRecs(i)[1]!, r);
    expectChildRecordMirrors(childRecs(r)[1]!, i);

    net.perform(r, r.engine.rekey('branch', 'ike', net.now)); // the responder rekeys this time
    net.run();
    net.advance(60_000);
    expect(ikeRecs(i)).toHaveLength(2);
    expect(ikeRecs(r)).toHaveLength(2);
    expectIkeRecordMatches(ikeRecs(i)[1]!, sa(r));
    expectIkeRecordMatches(ikeRecs(r)[1]!, sa(i));
    expect(ikeRecs(i)[1]!.spiI).not.toBe(first.spiI);
    // The old IKE SA is gone and the engine wiped its keys; the exported copy is intact.
    expect(hex(first.keys.skAi.reveal())).toBe(firstHex);
    expect(/^0+$/.test(firstHex)).toBe(false);
  });

  it('the responder exports nothing for an IKE_SA_INIT alone; the initiator exports at key derivation (so a failing IKE_AUTH can be decrypted)', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({})], { random: seeded(41), exportKeys: true });
    const r = net.add(R, [responderTunnel({})], { random: seeded(42), exportKeys: true });
    net.filter = (p) => (decodeOrFail(p.bytes).payloads[0]?.type === PayloadType.SK || decodeOrFail(p.bytes).payloads[0]?.type === PayloadType.SKF ? 'drop' : 'deliver');
    net.start(I);
    expect(i.exported.map((k) => k.sa)).toEqual(['ike']);
    expect(r.exported).toEqual([]);
  });

  it('exportKeys false (the default): establishment, both rekeys and a reload export nothing', () => {
    const { net, i, r } = setup({ exportI: false, exportR: false });
    net.perform(i, i.engine.rekey('gsa', 'child', net.now));
    net.run();
    net.perform(i, i.engine.rekey('gsa', 'ike', net.now));
    net.run();
    net.advance(60_000);
    const spiI = i.engine.status(0)[0]!.ike!.spiI;
    net.reconfigure(I, [initiatorTunnel({ ike: ['aes128gcm16-prfsha256-ecp256'], esp: ['aes128gcm16'], dpd: 20 })]);
    net.advance(60_000);
    expect(i.engine.status(0)[0]!.state).toBe('established');
    expect(i.engine.status(0)[0]!.ike!.spiI).not.toBe(spiI);
    for (const n of [i, r]) {
      expect(n.exported).toEqual([]);
      expect(n.actions.some((a) => a.action.kind === 'export-keys')).toBe(false);
    }
    // The default is off.
    const plain = new Net();
    const p = plain.add(I, [initiatorTunnel({})]);
    expect(p.engine.exportKeys).toBe(false);
  });

  it('no key appears in hex in any log, event or send action, nor in an export action printed by mistake', () => {
    const { net, i, r } = setup({ ike: ['aes256-sha256-ecp256'], esp: ['aes256-sha256'] });
    const secrets = new Set<string>();
    const note = (n: Node) => {
      for (const k of n.exported) for (const s of Object.values(k.keys)) if (s.length > 0) secrets.add(hex(s.reveal()));
      const keys = sa(n).keys!;
      for (const v of Object.values(keys)) if (v.length > 0) secrets.add(hex(v));
    };
    note(i);
    note(r);
    net.perform(i, i.engine.rekey('gsa', 'child', net.now));
    net.run();
    net.perform(i, i.engine.rekey('gsa', 'ike', net.now));
    net.run();
    note(i);
    note(r);
    net.advance(120_000);
    expect(secrets.size).toBeGreaterThan(20);
    for (const n of [i, r]) {
      const json = otherActionsJson(n);
      for (const s of secrets) expect(json.includes(s), 'a key in a non-export action').toBe(false);
      const printed = JSON.stringify(n.actions.filter((a) => a.action.kind === 'export-keys'));
      expect(printed).toContain('(hidden)');
      for (const s of secrets) expect(printed.includes(s)).toBe(false);
      for (const l of n.logs) for (const s of secrets) expect(l.msg.includes(s)).toBe(false);
    }
    // The record adapters reveal only what the tables need.
    const rec = ikeSaKeyExport(ikeRecs(i)[0]!);
    expect(Object.keys(rec.keys).sort()).toEqual(['skAi', 'skAr', 'skEi', 'skEr']);
  });
});
