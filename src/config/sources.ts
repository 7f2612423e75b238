/**
 * The texts a config is read from, and how a path into one of them becomes LINE:COL: the YAML
 * file itself, and the GSA connectivityConfiguration it may name (a JSON file, or JSON pasted
 * into the YAML as a `|` block). Positions come from the yaml library's node ranges through a
 * LineCounter (eco.md §A1); JSON is parsed with the same library (JSON is YAML 1.2), so a JSON
 * file gets real positions too.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { LineCounter, isMap, isNode, isScalar, parseDocument, visit, type Document } from 'yaml';
import type { Connectivity, ExpandIssue, Path, Ref } from './gsa-expand.js';

export interface Pos {
  line: number;
  col: number;
}

export interface SyntaxError {
  pos: Pos;
  message: string;
  code: string;
}

export class Source {
  private constructor(
    readonly file: string,
    readonly doc: Document,
    private readonly lc: LineCounter,
    /** Maps a position in this text to the file it sits in (a block scalar inside the YAML). */
    private readonly shift: (p: Pos) => Pos,
  ) {}

  /** Parse text; prettyErrors off: the pretty form quotes the source line, which may hold a PSK. */
  static parse(text: string, file: string, shift: (p: Pos) => Pos = (p) => p): { source: Source; errors: SyntaxError[] } {
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
    const source = new Source(file, doc, lc, shift);
    const errors = doc.errors.map((e) => ({ pos: source.offset(e.pos[0]), message: e.message, code: e.code }));
    return { source, errors };
  }

  get warnings(): SyntaxError[] {
    return this.doc.warnings.map((e) => ({ pos: this.offset(e.pos[0]), message: e.message, code: e.code }));
  }

  offset(at: number): Pos {
    return this.shift(this.lc.linePos(at));
  }

  /**
   * Where a path points: the node at the path, else the nearest ancestor that exists (a missing
   * key points at the map that should hold it); with key, at that key of the map.
   */
  locate(issuePath: Path, key?: string): Pos {
    for (let path = issuePath; ; path = path.slice(0, -1)) {
      const node = path.length === 0 ? this.doc.contents : this.doc.getIn(path, true);
      if (isNode(node) && node.range) {
        if (key !== undefined && isMap(node)) {
          const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
          if (pair && isNode(pair.key) && pair.key.range) return this.offset(pair.key.range[0]);
        }
        return this.offset(node.range[0]);
      }
      if (path.length === 0) return this.shift({ line: 1, col: 1 });
    }
  }

  /**
   * Aliases are resolved only by toJS, which throws (unresolved "*a", or an alias bomb past
   * maxAliasCount). Point at the alias that does not resolve, else the first alias.
   */
  aliasPosition(): Pos {
    let first: number | undefined;
    let bad: number | undefined;
    visit(this.doc, {
      Alias: (_key, node) => {
        if (!node.range) return;
        first ??= node.range[0];
        if (bad === undefined && !node.resolve(this.doc)) bad = node.range[0];
      },
    });
    const at = bad ?? first;
    return at === undefined ? this.shift({ line: 1, col: 1 }) : this.offset(at);
  }

  toJS(): unknown {
    return this.doc.toJS({ maxAliasCount: 100 });
  }
}

/** A connectivityConfiguration file is a few KB; refusing large files keeps /dev/zero-like paths out. */
const MAX_JSON_FILE = 1 << 20;
const KEY: Path = ['gsa', 'connectivityConfiguration'];

/**
 * Open gsa.connectivityConfiguration: a mapping (pasted as YAML or as flow/JSON), a `|` block
 * holding the JSON text, or a path (relative to the config file's directory) of a JSON file.
 * New texts are appended to `sources`; Refs index into it (0 is the YAML file).
 */
export function openConnectivity(
  value: unknown, text: string, sources: Source[], baseDir: string,
): { conn: Connectivity } | { issues: ExpandIssue[] } {
  const at = (message: string): { issues: ExpandIssue[] } => ({ issues: [{ at: { source: 0, path: KEY }, message }] });
  if (typeof value === 'object' && value !== null) {
    return { conn: { doc: value, at: (path) => ({ source: 0, path: [...KEY, ...path] }) } };
  }
  if (typeof value !== 'string' || value.trim() === '') {
    return at('expected GSA\'s connectivityConfiguration JSON (pasted, or in a | block), or the path of a file holding it');
  }
  let json: string;
  let file: string;
  let shift: (p: Pos) => Pos;
  if (value.trimStart().startsWith('{')) {
    // Pasted text. In a `|` block every line keeps its place: map JSON line L, col C to the
    // YAML line after the header plus L-1, col indent+C. Other scalars point at the scalar.
    json = value;
    file = sources[0]!.file;
    const node = sources[0]!.doc.getIn(KEY, true);
    const start = isScalar(node) && node.range ? sources[0]!.offset(node.range[0]) : { line: 1, col: 1 };
    if (isScalar(node) && node.type === 'BLOCK_LITERAL' && node.range) {
      const body = text.slice(node.range[0]).split('\n').slice(1);
      const indent = /^ */.exec(body.find((l) => l.trim() !== '') ?? '')![0].length;
      shift = (p) => ({ line: start.line + p.line, col: indent + p.col });
    } else shift = () => start;
  } else {
    file = resolve(baseDir, value);
    try {
      const st = statSync(file);
      if (!st.isFile()) return at(`${file} is not a regular file`);
      if (st.size > MAX_JSON_FILE) return at(`${file} is larger than ${MAX_JSON_FILE} bytes; a connectivityConfiguration is a few KB`);
      json = readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return at(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? 'read error')} (the path is relative to the config file's directory)`);
    }
    shift = (p) => p;
  }
  const { source, errors } = Source.parse(json, file, shift);
  const index = sources.push(source) - 1;
  const ref = (path: Path): Ref => ({ source: index, path });
  if (errors.length > 0) return { issues: errors.map((e) => ({ at: { source: index, path: [], pos: e.pos }, message: `JSON: ${e.message}` })) };
  let doc: unknown;
  try {
    doc = source.toJS();
  } catch (e) {
    return { issues: [{ at: ref([]), message: `JSON: ${(e as Error).message}` }] };
  }
  return { conn: { doc, at: ref } };
}
