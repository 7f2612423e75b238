/**
 * From the engine's `export-keys` action (src/ike/actions.ts KeyExport, emitted only with
 * EngineOptions.exportKeys) to the Wireshark tables of wireshark-keys.ts. The daemon's whole
 * part is:
 *
 *   case 'export-keys': writeKeyExport(writer, a.keys); return;
 *
 * The keys arrive as Secret copies; they are revealed here only, written, and wiped.
 */
import type { ChildSaKeys, KeyExport } from '../ike/actions.js';
import { espSaLines, ikev2Line, type IkeSaKeyExport, type WiresharkKeyWriter } from './wireshark-keys.js';

type IkeRecord = Extract<KeyExport, { sa: 'ike' }>;
type ChildRecord = Extract<KeyExport, { sa: 'child' }>;

/** The ikev2Line()/writeIkeSa() input of an IKE SA record (reveals the keys). */
export function ikeSaKeyExport(k: IkeRecord): IkeSaKeyExport {
  const s = k.keys;
  return {
    spiI: k.spiI, spiR: k.spiR, encrId: k.encrId, encrKeyBits: k.encrKeyBits, integId: k.integId,
    keys: { skEi: s.skEi.reveal(), skEr: s.skEr.reveal(), skAi: s.skAi.reveal(), skAr: s.skAr.reveal() },
  };
}

/** The espSaLines()/writeChildSa() keys of a Child SA record (reveals the keys). */
export function childSaKeys(k: ChildRecord): ChildSaKeys {
  const s = k.keys;
  return { encrIn: s.encrIn.reveal(), integIn: s.integIn.reveal(), encrOut: s.encrOut.reveal(), integOut: s.integOut.reveal() };
}

/** The table a record belongs to and its lines, as the writer would append them. */
export function keyExportLines(k: KeyExport): { table: 'ikev2' | 'esp'; lines: string[] } {
  return k.sa === 'ike' ? { table: 'ikev2', lines: [ikev2Line(ikeSaKeyExport(k))] } : { table: 'esp', lines: espSaLines(k.child, childSaKeys(k)) };
}

/** Overwrite the record's key copies (the engine keeps its own). */
export function wipeKeyExport(k: KeyExport): void {
  for (const s of Object.values(k.keys)) s.wipe();
}

/**
 * Append the record to its table and wipe its keys, whether or not the write worked. Throws what
 * the writer throws (file errors, an algorithm Wireshark has no name for); no key is in the error.
 */
export function writeKeyExport(writer: Pick<WiresharkKeyWriter, 'writeIkeSa' | 'writeChildSa'>, k: KeyExport): void {
  try {
    if (k.sa === 'ike') writer.writeIkeSa(ikeSaKeyExport(k));
    else writer.writeChildSa(k.child, childSaKeys(k));
  } finally {
    wipeKeyExport(k);
  }
}
