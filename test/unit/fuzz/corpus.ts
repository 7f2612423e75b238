/**
 * The captured corpus (test/fixtures/captured/*.txt, made by scripts/capture-hostile-corpus.sh):
 * real IKE and ESP-in-UDP datagrams of strongSwan ↔ strongSwan and branchgate ↔ strongSwan runs,
 * with the keys strongSwan logged for every IKE and Child SA in them. Parsed strictly: a line
 * this reader does not understand is an error, so a damaged fixture cannot shrink a test silently.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Endpoint } from '../../../src/ike/actions.js';

export const CORPUS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'captured');

export interface CapturedDatagram {
  file: string;
  /** Line number in the file (1-based), for failure messages. */
  line: number;
  /** exchange-request|response[-fragment][-cookie|-invalid-ke], esp or keepalive (the script's label). */
  label: string;
  src: Endpoint;
  dst: Endpoint;
  /** The UDP payload exactly as captured (port-4500 IKE still has its non-ESP marker). */
  udp: Uint8Array;
  kind: 'ike' | 'esp' | 'keepalive';
  /** For kind 'ike': the IKE message (marker stripped). */
  ike?: Uint8Array;
}

export interface CapturedIkeKeys {
  spiI: string;
  spiR: string;
  encrId: number;
  keyBits: number;
  integId: number;
  skEi: Uint8Array;
  skEr: Uint8Array;
  skAi: Uint8Array;
  skAr: Uint8Array;
}

export interface CapturedEspKeys {
  spi: number;
  encrId: number;
  keyBits: number;
  integId: number;
  encrKey: Uint8Array;
  integKey: Uint8Array;
}

export interface CorpusFile {
  name: string;
  header: string[];
  datagrams: CapturedDatagram[];
  ikeKeys: CapturedIkeKeys[];
  espKeys: CapturedEspKeys[];
}

const hex = (s: string, what: string): Uint8Array => {
  if (!/^(?:[0-9a-f]{2})*$/.test(s)) throw new Error(`${what}: not lowercase hex`);
  return new Uint8Array(Buffer.from(s, 'hex'));
};

function endpoint(s: string, what: string): Endpoint {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(s);
  if (!m) throw new Error(`${what}: bad endpoint ${s}`);
  return { address: m[1]!, port: Number(m[2]) };
}

function fields(parts: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new Error(`${what}: expected key=value, got ${p}`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

export function parseCorpusFile(name: string, text: string): CorpusFile {
  const f: CorpusFile = { name, header: [], datagrams: [], ikeKeys: [], espKeys: [] };
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    const where = `${name}:${i + 1}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      f.header.push(line);
      return;
    }
    const parts = line.split(' ');
    if (parts[0] === 'key' && parts[1] === 'ike') {
      const k = fields(parts.slice(4), where);
      f.ikeKeys.push({
        spiI: parts[2]!, spiR: parts[3]!, encrId: Number(k.encr), keyBits: Number(k.keybits), integId: Number(k.integ),
        skEi: hex(k.sk_ei ?? '', where), skEr: hex(k.sk_er ?? '', where), skAi: hex(k.sk_ai ?? '', where), skAr: hex(k.sk_ar ?? '', where),
      });
      return;
    }
    if (parts[0] === 'key' && parts[1] === 'esp') {
      const k = fields(parts.slice(3), where);
      f.espKeys.push({
        spi: Number.parseInt(parts[2]!, 16), encrId: Number(k.encr), keyBits: Number(k.keybits), integId: Number(k.integ),
        encrKey: hex(k.encr_key ?? '', where), integKey: hex(k.integ_key ?? '', where),
      });
      return;
    }
    if (parts.length !== 4) throw new Error(`${where}: expected LABEL SRC DST HEX`);
    const [label, src, dst, body] = parts as [string, string, string, string];
    const udp = hex(body, where);
    const d: CapturedDatagram = {
      file: name, line: i + 1, label, src: endpoint(src, where), dst: endpoint(dst, where), udp,
      kind: label === 'esp' ? 'esp' : label === 'keepalive' ? 'keepalive' : 'ike',
    };
    if (d.kind === 'ike') {
      const natT = d.src.port === 4500 || d.dst.port === 4500;
      if (natT && !(udp[0] === 0 && udp[1] === 0 && udp[2] === 0 && udp[3] === 0)) throw new Error(`${where}: IKE on 4500 without the non-ESP marker`);
      d.ike = natT ? udp.subarray(4) : udp;
    }
    f.datagrams.push(d);
  });
  return f;
}

let cache: CorpusFile[] | undefined;

/** Every fixture file, in name order. Throws when the directory is empty. */
export function loadCorpus(): CorpusFile[] {
  if (cache) return cache;
  const names = readdirSync(CORPUS_DIR).filter((n) => n.endsWith('.txt')).sort();
  if (names.length === 0) throw new Error(`no captured corpus in ${CORPUS_DIR}: run sudo bash scripts/capture-hostile-corpus.sh`);
  cache = names.map((n) => parseCorpusFile(n, readFileSync(join(CORPUS_DIR, n), 'utf8')));
  return cache;
}

export function allDatagrams(): CapturedDatagram[] {
  return loadCorpus().flatMap((f) => f.datagrams);
}

/** Every captured IKE message (marker stripped). */
export function ikeMessages(): (CapturedDatagram & { ike: Uint8Array })[] {
  return allDatagrams().filter((d): d is CapturedDatagram & { ike: Uint8Array } => d.kind === 'ike' && d.ike !== undefined);
}

export function espDatagrams(): CapturedDatagram[] {
  return allDatagrams().filter((d) => d.kind === 'esp');
}

export const spiHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The logged keys of the IKE SA a message belongs to (by its SPI pair), if any. */
export function ikeKeysFor(msg: Uint8Array): CapturedIkeKeys | undefined {
  const spiI = spiHex(msg.subarray(0, 8));
  const spiR = spiHex(msg.subarray(8, 16));
  return loadCorpus().flatMap((f) => f.ikeKeys).find((k) => k.spiI === spiI && k.spiR === spiR);
}

export function espKeysFor(spi: number): CapturedEspKeys | undefined {
  return loadCorpus().flatMap((f) => f.espKeys).find((k) => k.spi === spi);
}
