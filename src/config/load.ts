/**
 * YAML text → validated Config, with every problem reported as FILE:LINE:COL (eco.md §A1: parse
 * with a LineCounter, map each validator path back through doc.getIn(path, true).range).
 *
 * Three kinds of problem, all collected before returning so one run shows them all:
 *  - YAML syntax (the yaml library's own errors; then nothing else is checked, the tree is
 *    unreliable),
 *  - shape and values (schema.ts validateShape: zod strict schemas + the value parsers),
 *  - rules across keys and the PSK sources (rules.ts, gsa-rules.ts, resolvePsk below).
 *
 * Before the schema runs, a gsa: section is expanded (gsa-expand.ts) into the keys a
 * hand-written config would have; values that came from GSA's connectivityConfiguration carry
 * an Origin, so problems with them are reported where they came from (possibly a JSON file).
 *
 * Parsing is synchronous: configs (at most 1 MiB, limits.ts) and PSK files are small. The daemon
 * reads the config text itself asynchronously on reload (config-file.ts), so a slow disk never
 * stalls the event loop; the PSK files are a few bytes each.
 * PSKs are never put in a message; as a second line of defence any PSK text that was read is
 * scrubbed from every message before it is returned.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { BgpConfig, Config, PfsSetting, ProposalTemplate, RawIssue, TunnelConfig } from './types.js';
import { Secret } from '../secret.js';
import { ipv4Identity } from './identity.js';
import { DEFAULT_PROFILE, GSA_CUSTOM_PROFILE, expandProfile } from './profiles.js';
import { validateShape, type ConfigFile } from './schema.js';
import { checkRules } from './rules.js';
import { checkGsaRules, rawGsaPolicy } from './gsa-rules.js';
import { buildInternet, checkInternetRules, INTERNET_MAX_PREFIXES, INTERNET_TABLE } from './internet.js';
import { buildHa, checkHaRules } from './ha-rules.js';
import { gsaPolicyTemplates, resolveGsaPolicy } from './gsa-policy.js';
import { expandGsa, type Connectivity, type ExpandIssue, type Origin, type Ref } from './gsa-expand.js';
import { Source, openConnectivity, type Pos } from './sources.js';
import { BGP_DEFAULTS, defaultBirdPaths } from './bgp-defaults.js';
import { MAX_CONFIG_BYTES, MIN_PSK_BYTES, WARN_PSK_BYTES } from './limits.js';

export interface ConfigIssue {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  col: number;
  /** Dotted path of the offending key, e.g. "tunnels.0.psk"; "" for syntax errors. */
  path: string;
  message: string;
}

export type ParseConfigResult =
  | { ok: true; config: Config; warnings: ConfigIssue[] }
  | { ok: false; errors: ConfigIssue[] };

/** "FILE:LINE:COL: path: message", the format `check-config` prints (contract.md). */
export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col}: ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const PSK_SOURCES = ['psk', 'pskFile', 'pskEnv'] as const;
/** A PSK file is a few bytes; refusing large files also keeps /dev/zero-like paths out. */
const MAX_PSK_FILE = 64 * 1024;

interface PskContext {
  baseDir: string;
  env: NodeJS.ProcessEnv;
  /** check-config --offline: a PSK source that is absent here (env unset, file missing) is fine. */
  offline: boolean;
  errors: RawIssue[];
  warnings: RawIssue[];
  /** PSK texts seen, to scrub from messages. */
  seen: string[];
}

type Report = (message: string) => void;

function readPskFile(ctx: PskContext, at: Report, warn: Report, name: string): Uint8Array | undefined {
  // pskFile names a file on the host that runs the daemon; offline, it need not exist here.
  const path = resolve(ctx.baseDir, name);
  try {
    // stat first: reading a FIFO or a device would block or never end.
    const st = statSync(path);
    if (!st.isFile()) return at(`${path} is not a regular file`), undefined;
    if (st.size > MAX_PSK_FILE) return at(`${path} is larger than ${MAX_PSK_FILE} bytes; it holds one PSK`), undefined;
    let buf = readFileSync(path);
    // `echo KEY > file` adds a newline that is not part of the key.
    let end = buf.length;
    while (end > 0 && (buf[end - 1] === 0x0a || buf[end - 1] === 0x0d)) end--;
    buf = buf.subarray(0, end);
    ctx.seen.push(buf.toString('utf8'));
    if (buf.length === 0) return at(`${path} is empty: put the pre-shared key in it`), undefined;
    // Like wg(8): a key file others can read is worth a warning, not a refusal.
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      warn(`${path} is readable by group or others (mode ${mode}); chmod 600 it`);
    }
    return new Uint8Array(buf);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (ctx.offline && (code === 'ENOENT' || code === 'EACCES')) return OFFLINE_PLACEHOLDER;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? 'read error');
    at(`cannot read ${path}: ${why} (pskFile is relative to the config file's directory)`);
    return undefined;
  }
}

/**
 * Stands in for a secret that --offline did not read; never used to authenticate (only
 * check-config and show-config accept --offline) and as long as a good key, so no length check fires.
 */
const OFFLINE_PLACEHOLDER = new Uint8Array(32);

/**
 * The length rules (limits.ts): below MIN_PSK_BYTES refused, below WARN_PSK_BYTES a warning.
 * Octets, as the PRF sees them (RFC 7296 §2.15), not characters.
 */
function checkPskLength(ctx: PskContext, secret: Secret | undefined, i: number, key: string): Secret | undefined {
  if (secret === undefined || secret.length >= WARN_PSK_BYTES) return secret;
  const path = ['tunnels', i, key];
  const advice = `use ${WARN_PSK_BYTES} or more random octets, e.g. \`openssl rand -base64 30\` (the peer needs the same key)`;
  if (secret.length < MIN_PSK_BYTES) {
    ctx.errors.push({ path, message: `the pre-shared key is ${secret.length} octets, shorter than the minimum of ${MIN_PSK_BYTES}: ${advice}` });
    return undefined;
  }
  ctx.warnings.push({ path, message: `the pre-shared key is only ${secret.length} octets: ${advice}` });
  return secret;
}

/** Exactly one of psk / pskFile / pskEnv, read, non-empty and long enough. Errors point at the source key. */
function resolvePsk(ctx: PskContext, t: unknown, i: number): Secret | undefined {
  const secret = readPsk(ctx, t, i);
  const key = isObj(t) ? PSK_SOURCES.find((k) => t[k] !== undefined) : undefined;
  return key === undefined ? secret : checkPskLength(ctx, secret, i, key);
}

function readPsk(ctx: PskContext, t: unknown, i: number): Secret | undefined {
  if (!isObj(t)) return undefined;
  if (typeof t.psk === 'string') ctx.seen.push(t.psk);
  const issue = (key: string): Report => (message) => ctx.errors.push({ path: ['tunnels', i, key], message });
  const present = PSK_SOURCES.filter((k) => t[k] !== undefined);
  if (present.length === 0) {
    issue('psk')('no pre-shared key: set exactly one of psk, pskFile (a file holding the key) or pskEnv (an environment variable holding it)');
    return undefined;
  }
  if (present.length > 1) {
    for (const k of present.slice(1)) issue(k)(`${present[0]} and ${k} are both set: keep exactly one PSK source`);
    return undefined;
  }
  const key = present[0]!;
  const at = issue(key);
  const v = t[key];
  if (key === 'psk') {
    if (v === null) return at('has no value: write the pre-shared key after psk:, in quotes'), undefined;
    if (typeof v !== 'string') return at('expected text; quote the key ("...") so YAML keeps it as text'), undefined;
    if (v.trim() === '') return at('the pre-shared key is empty'), undefined;
    return Secret.fromString(v);
  }
  if (key === 'pskFile') {
    if (typeof v !== 'string' || v === '') return at('expected the path of a file holding the pre-shared key'), undefined;
    const warn: Report = (message) => ctx.warnings.push({ path: ['tunnels', i, key], message });
    const bytes = readPskFile(ctx, at, warn, v);
    return bytes && new Secret(bytes);
  }
  if (typeof v !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) {
    return at('expected the name of an environment variable, e.g. BRANCHGATE_PSK'), undefined;
  }
  const value = ctx.env[v];
  if (value === undefined && ctx.offline) return new Secret(OFFLINE_PLACEHOLDER);
  if (value === undefined) return at(`environment variable ${v} is not set (check-config --offline accepts that)`), undefined;
  ctx.seen.push(value);
  if (value.trim() === '') return at(`environment variable ${v} is empty`), undefined;
  return Secret.fromString(value);
}

/** Where a tunnel's proposals come from: explicit lists, GSA's custom policy, or a fixed profile. */
function tunnelProposals(t: ConfigFile['tunnels'][number]): { ike: ProposalTemplate[]; esp: ProposalTemplate[]; pfs?: PfsSetting; childLifetime?: number } {
  if (t.ike && t.esp) return { ike: t.ike, esp: t.esp };
  if (t.profile === GSA_CUSTOM_PROFILE) {
    // The rules (gsa-rules.ts) refused a policy resolveGsaPolicy cannot resolve.
    const policy = rawGsaPolicy(t.gsaPolicy);
    const r = policy && resolveGsaPolicy(policy);
    if (!r || !r.ok) throw new Error('gsa-custom without a valid gsaPolicy passed validation');
    const life = policy.saLifeTimeSeconds;
    return { ...gsaPolicyTemplates(r.value), pfs: r.value.pfs, ...(life !== undefined && { childLifetime: life }) };
  }
  const r = expandProfile(t.profile ?? DEFAULT_PROFILE);
  if (!r.ok) throw new Error(r.error); // the schema only lets known profile names through
  return r.value;
}

/** The bgp: section with every default filled, BIRD paths next to the control socket. */
function buildBgp(b: NonNullable<ConfigFile['bgp']>, controlSocket: string, internet: boolean): BgpConfig {
  const paths = defaultBirdPaths(controlSocket);
  const maxPrefixes = b.maxPrefixes ?? (internet ? INTERNET_MAX_PREFIXES : BGP_DEFAULTS.maxPrefixes);
  return { ...b, maxPrefixes, ...(internet && { acceptCoveringEndpoint: true, kernelTable: INTERNET_TABLE }), bird: { binary: b.bird?.binary ?? paths.binary, socket: b.bird?.socket ?? paths.socket, config: b.bird?.config ?? paths.config } };
}

/** Fill the defaults that depend on other keys and expand profiles. Input is already valid. */
function buildConfig(file: ConfigFile, psks: Secret[], baseDir: string): Config {
  const tunnels = file.tunnels.map((t, i): TunnelConfig => {
    const prop = tunnelProposals(t);
    return {
      name: t.name,
      localAddress: t.localAddress,
      remoteAddress: t.remoteAddress,
      // checkRules guarantees localId or localAddress.
      localId: t.localId ?? ipv4Identity(t.localAddress!),
      remoteId: t.remoteId !== undefined ? t.remoteId : t.remoteAddress === '%any' ? null : ipv4Identity(t.remoteAddress),
      psk: psks[i]!,
      ikeProposals: prop.ike,
      espProposals: prop.esp,
      ikeLifetime: t.ikeLifetime,
      childLifetime: prop.childLifetime ?? t.childLifetime,
      childLifetimeBytes: t.childLifetimeBytes,
      childLifetimePackets: t.childLifetimePackets,
      pfs: t.pfs ?? prop.pfs ?? { kind: 'none' },
      natT: t.natT,
      dpd: t.dpd,
      fragmentation: t.fragmentation,
      fragmentSize: t.fragmentSize,
      initiate: t.initiate,
      localTs: t.localTs,
      remoteTs: t.remoteTs,
      interface: t.interface ?? `bg${i}`,
      mtu: t.mtu,
      mssClamp: t.mssClamp ?? t.mtu - 40,
      routes: t.routes,
    };
  });
  const internet = buildInternet(file);
  const bgp = file.bgp && buildBgp(file.bgp, file.control.socket, internet.internetProfile);
  const debug = file.debug.wiresharkKeys !== undefined ? { wiresharkKeys: resolve(baseDir, file.debug.wiresharkKeys) } : {};
  return { log: file.log, control: file.control, tunnels, routing: file.routing, ...(bgp && { bgp }), debug, limits: file.limits,
    ...(file.privileges && { privileges: file.privileges }), internet, ...(file.ha && { ha: buildHa(file.ha, baseDir, file.control.socket) }) };
}

function scrub(message: string, secrets: string[]): string {
  // Very short keys would match ordinary words; messages never echo a PSK in the first place.
  for (const s of secrets) if (s.length >= 4) message = message.split(s).join('(hidden)');
  return message;
}

/** Where an issue about the expanded document points: through the longest matching Origin. */
function resolveRef(origins: readonly Origin[], r: RawIssue): Ref & { display: (string | number)[] } {
  let best: Origin | undefined;
  for (const o of origins) {
    if (o.from.length <= r.path.length && o.from.every((p, i) => r.path[i] === p) && (!best || o.from.length > best.from.length)) best = o;
  }
  const own = [...r.path, ...(r.key !== undefined ? [r.key] : [])];
  if (!best) return { source: 0, path: r.path, display: own };
  const path = [...best.to.path, ...r.path.slice(best.from.length)];
  return { source: best.to.source, path, display: [...path, ...(r.key !== undefined ? [r.key] : [])] };
}

export interface ParseOptions {
  /** Secrets may be absent (check-config --offline, for config repositories in CI). */
  offline?: boolean;
}

/** Parse and validate config text. Never throws; fileName is used in messages and for pskFile. */
export function parseConfig(text: string, fileName: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions = {}): ParseConfigResult {
  const seen: string[] = [];
  const issueAt = (file: string, pos: Pos, path: string, message: string): ConfigIssue => ({
    file, line: pos.line, col: pos.col, path, message: scrub(message, seen),
  });
  try {
    const { source: main, errors: syntax } = Source.parse(text, fileName);
    const yamlIssue = (src: Source) => (e: { pos: Pos; message: string; code: string }) => {
      const hint = e.code === 'BAD_SCALAR_START' && e.message.includes('%') ? ' (quote it: "%any")' : '';
      return issueAt(src.file, e.pos, '', `YAML: ${e.message}${hint}`);
    };
    if (syntax.length > 0) return { ok: false, errors: syntax.map(yamlIssue(main)) };
    let raw: unknown;
    try {
      raw = main.toJS();
    } catch (e) {
      return { ok: false, errors: [issueAt(fileName, main.aliasPosition(), '', `YAML: ${(e as Error).message}`)] };
    }
    const sources: Source[] = [main];
    const baseDir = dirname(fileName);
    const fromRef = (x: ExpandIssue): ConfigIssue => {
      const src = sources[x.at.source]!;
      return issueAt(src.file, x.at.pos ?? src.locate(x.at.path), x.at.pos ? '' : x.at.path.join('.'), x.message);
    };
    const early: ConfigIssue[] = [];
    let conn: Connectivity | 'failed' | undefined;
    if (isObj(raw) && isObj(raw.gsa) && raw.gsa.connectivityConfiguration !== undefined) {
      const opened = openConnectivity(raw.gsa.connectivityConfiguration, text, sources, baseDir);
      if ('conn' in opened) conn = opened.conn;
      else (conn = 'failed'), early.push(...opened.issues.map(fromRef));
    } else if (isObj(raw) && raw.gsa !== undefined && !(isObj(raw.gsa) && raw.gsa.profiles !== undefined)) conn = 'failed'; // the schema reports the section
    const expanded = expandGsa(raw, conn);
    raw = expanded.raw;
    early.push(...expanded.issues.map(fromRef));
    const ctx: PskContext = { baseDir, env, offline: opts.offline === true, errors: [], warnings: [], seen };
    const psks = isObj(raw) && Array.isArray(raw.tunnels) ? raw.tunnels.map((t, i) => resolvePsk(ctx, t, i)) : [];
    const shape = validateShape(raw);
    const toIssue = (r: RawIssue) => {
      const ref = resolveRef(expanded.origins, r);
      const src = sources[ref.source]!;
      return issueAt(src.file, src.locate(ref.path, r.key), ref.display.join('.'), r.message);
    };
    const gsa = checkGsaRules(raw);
    const ha = checkHaRules(raw, baseDir);
    const repeated = (r: RawIssue) => expanded.suppress.some((p) => p.length === r.path.length && p.every((x, i) => r.path[i] === x));
    const raws = [...shape.issues, ...checkRules(raw), ...checkInternetRules(raw), ...gsa.issues, ...ha.issues, ...ctx.errors].filter((r) => !repeated(r));
    const errors = [...early, ...raws.map(toIssue)];
    const byPos = (a: ConfigIssue, b: ConfigIssue) => (a.file === b.file ? 0 : a.file === fileName ? -1 : b.file === fileName ? 1 : a.file < b.file ? -1 : 1) || a.line - b.line || a.col - b.col;
    if (errors.length > 0 || !shape.data) return { ok: false, errors: errors.sort(byPos) };
    const warnings = [...sources.flatMap((s) => s.warnings.map(yamlIssue(s))), ...[...ctx.warnings, ...gsa.warnings, ...ha.warnings].map(toIssue)];
    if (shape.data.tunnels.length === 0) {
      warnings.push(toIssue({ path: ['tunnels'], message: 'no tunnels configured: the daemon will start but do nothing' }));
    }
    return { ok: true, config: buildConfig(shape.data, psks as Secret[], baseDir), warnings: warnings.sort(byPos) };
  } catch (e) {
    // Only a bug gets here; it must not take down a daemon that is reloading its config.
    return { ok: false, errors: [issueAt(fileName, { line: 1, col: 1 }, '', `cannot read this config: ${(e as Error).message}`)] };
  }
}

/** Read and parse a config file (synchronously, see the header). Never throws. */
export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): ParseConfigResult {
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > MAX_CONFIG_BYTES) {
      return { ok: false, errors: [{ file: path, line: 1, col: 1, path: '', message: `the file is ${size} bytes; a config is at most ${MAX_CONFIG_BYTES} (1 MiB) — is this the right file?` }] };
    }
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    return { ok: false, errors: [{ file: path, line: 1, col: 1, path: '', message: `cannot read the config file: ${code}` }] };
  }
  return parseConfig(text, path, env);
}
