/**
 * The `branchgate` command line (bin/branchgate.js imports dist/cli.js). node:util parseArgs plus
 * a dispatcher; most commands are thin clients of the control socket.
 *
 * Exit status (shared/design/contract.md): 0 ok, 1 runtime failure, 2 usage or config error.
 * Every error line says what to do next.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
// daemon.js (and with it the engine and the dataplanes) is imported only by `run`, and the config
// loader only by `run` and `check-config`: control commands such as `status` and `monitor` start
// quickly and light.
type ConfigFileModule = typeof import('./config-file.js');
const daemonModule = () => import('./daemon.js');
const configFileModule = (): Promise<ConfigFileModule> => import('./config-file.js');
import { ControlClientError, DEFAULT_SOCKET, monitor as monitorStream, request } from './control/client.js';
import type { Command, ControlRequest } from './control/protocol.js';
import type { ListSasDocument, StatusDocument } from './control/status.js';
import { nativeFastPath, packageVersion } from './version.js';
import { CHECK_UNKNOWN, checkUnknown, evaluateStatus } from './cli/status-check.js';

export interface Out {
  write(s: string): unknown;
}
export interface CliIo {
  stdout: Out;
  stderr: Out;
  env?: NodeJS.ProcessEnv;
  /** Ends `monitor` (default: SIGINT/SIGTERM, or stdout going away). */
  signal?: AbortSignal;
}

export const USAGE = `usage: branchgate <command> [options]

commands:
  run --config FILE [--socket PATH] [--user USER[:GROUP]]
                                      run the daemon in the foreground (SIGINT/SIGTERM stop it);
                                      --user: drop root to USER after setup (overrides privileges:)
  check-config FILE                   validate a config file
  status [--json | --check]           one line per tunnel, or the status document; --check: one
                                      monitoring-plugin line, exit 0 ok, 1 degraded, 2 down, 3 unknown
  list-sas [--json]                   IKE and Child SAs: algorithms, SPIs, counters, rekey times;
                                      drops by reason
  up NAME | down NAME                 bring one tunnel up or down
  rekey NAME [--ike] [--wait]         rekey the tunnel's Child SA (or its IKE SA); --wait: until done
  reload                              re-read the config file; unchanged tunnels keep their SAs (SIGHUP too)
  monitor                             stream events (tunnel up/down, rekeys, DPD, NAT, BGP) as JSON lines
  lab up|down|status                  the namespace lab: a branch, branchgate and a GSA-like endpoint
  version [--json]                    version, and whether the native fast path is loaded
  help                                this text

Commands that talk to the daemon take --socket PATH (default ${DEFAULT_SOCKET},
or $BRANCHGATE_SOCKET).
Exit status: 0 ok, 1 runtime failure, 2 usage or config error.
`;

/** How long `rekey --wait` waits for the daemon to report the rekey done (seconds). */
export const REKEY_WAIT_S = 30;

type Opts = NonNullable<ParseArgsConfig['options']>;
const help = { help: { type: 'boolean', short: 'h' } } as const;
const socket = { socket: { type: 'string' } } as const;
const json = { json: { type: 'boolean' } } as const;
const SPECS: Record<string, { options: Opts; positionals: number; usage: string }> = {
  run: { options: { ...help, ...socket, config: { type: 'string', short: 'c' }, user: { type: 'string', short: 'u' } }, positionals: 0,
    usage: 'run --config FILE [--socket PATH] [--user USER[:GROUP]]' },
  'check-config': { options: { ...help }, positionals: 1, usage: 'check-config FILE' },
  status: { options: { ...help, ...socket, ...json, check: { type: 'boolean' } }, positionals: 0, usage: 'status [--json | --check] [--socket PATH]' },
  'list-sas': { options: { ...help, ...socket, ...json }, positionals: 0, usage: 'list-sas [--json] [--socket PATH]' },
  up: { options: { ...help, ...socket }, positionals: 1, usage: 'up NAME [--socket PATH]' },
  down: { options: { ...help, ...socket }, positionals: 1, usage: 'down NAME [--socket PATH]' },
  rekey: { options: { ...help, ...socket, ike: { type: 'boolean' }, wait: { type: 'boolean' } }, positionals: 1,
    usage: 'rekey NAME [--ike] [--wait] [--socket PATH]' },
  monitor: { options: { ...help, ...socket }, positionals: 0, usage: 'monitor [--socket PATH]' },
  reload: { options: { ...help, ...socket }, positionals: 0, usage: 'reload [--socket PATH]' },
  version: { options: { ...help, ...json }, positionals: 0, usage: 'version [--json]' },
  help: { options: { ...help }, positionals: 0, usage: 'help' },
};

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

function usageError(io: CliIo, msg: string): number {
  io.stderr.write(`branchgate: ${msg}\n\n${USAGE}`);
  return 2;
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) return usageError(io, 'no command given');
  if (cmd === 'help' || cmd === '--help' || cmd === '-h') {
    io.stdout.write(USAGE);
    return 0;
  }
  // The lab has subcommands and options of its own (src/lab/cli.ts).
  if (cmd === 'lab') return (await import('./lab/cli.js')).labMain(rest, io);
  const spec = SPECS[cmd];
  if (spec === undefined) return usageError(io, `unknown command '${cmd}'`);
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: rest, options: spec.options, allowPositionals: true, strict: true }));
  } catch (err) {
    const code = usageError(io, `${(err as Error).message} (usage: branchgate ${spec.usage})`);
    // A monitoring plugin reports its own misuse as UNKNOWN, never as a state of the service.
    return cmd === 'status' && rest.includes('--check') ? CHECK_UNKNOWN : code;
  }
  if (values.help === true) {
    io.stdout.write(`usage: branchgate ${spec.usage}\n`);
    return 0;
  }
  if (positionals.length !== spec.positionals) {
    return usageError(io, `'${cmd}' takes ${spec.positionals === 0 ? 'no arguments' : 'one argument'} (usage: branchgate ${spec.usage})`);
  }
  const env = io.env ?? process.env;
  const sock = typeof values.socket === 'string' ? values.socket : env.BRANCHGATE_SOCKET || DEFAULT_SOCKET;
  switch (cmd) {
    case 'version': return version(io, values.json === true);
    case 'check-config': return checkConfig(io, positionals[0] ?? '', env, await configFileModule());
    case 'run': return run(io, values);
    case 'status': if (values.check === true) return statusCheck(io, sock);
      return query(io, cmd, sock, values.json === true);
    case 'list-sas': return query(io, cmd, sock, values.json === true);
    case 'rekey': return rekey(io, positionals[0] ?? '', values.ike === true, values.wait === true, sock);
    case 'monitor': return monitor(io, sock);
    case 'reload': return reload(io, sock);
    default: return upDown(io, cmd === 'up' ? 'up' : 'down', positionals[0] ?? '', sock);
  }
}

function version(io: CliIo, asJson: boolean): number {
  const nf = nativeFastPath();
  if (asJson) {
    io.stdout.write(`${JSON.stringify({ version: packageVersion(), nativeFastPath: nf.loaded, nativeFastPathReason: nf.reason })}\n`);
  } else {
    io.stdout.write(`branchgate ${packageVersion()}\nnative fast path: ${nf.loaded ? 'loaded' : `not loaded (${nf.reason})`}\n`);
  }
  return 0;
}

async function checkConfig(io: CliIo, file: string, env: NodeJS.ProcessEnv, { loadConfig, ConfigLoadError }: ConfigFileModule): Promise<number> {
  let loaded: ReturnType<ConfigFileModule['loadConfig']>;
  try {
    loaded = loadConfig(file, env);
  } catch (err) {
    if (!(err instanceof ConfigLoadError)) throw err;
    for (const line of err.issues) io.stderr.write(`${line}\n`);
    return 2;
  }
  const { config, warnings } = loaded;
  const n = config.tunnels.length;
  io.stdout.write(`${file}: ok (${n} tunnel${n === 1 ? '' : 's'})\n`);
  for (const w of warnings) io.stderr.write(`warning: ${w}\n`);
  if (config.privileges) {
    const w = await privilegesWarning(config.privileges.user, config.privileges.group);
    if (w !== null) io.stderr.write(`warning: ${w}\n`);
  }
  return 0;
}

/**
 * A config may be checked on another machine than the one that runs it, so a user or group this
 * host does not know is a warning here; `branchgate run` on such a host exits 2 at start.
 */
async function privilegesWarning(user: string, group: string | undefined): Promise<string | null> {
  const { resolveIdentity, PrivilegeError } = await import('./native/privileges.js');
  try {
    resolveIdentity(user, group);
    return null;
  } catch (err) {
    if (!(err instanceof PrivilegeError)) throw err;
    if (err.code === 'unknown-user' || err.code === 'unknown-group') {
      return `privileges: ${err.message}; \`branchgate run\` on this host would exit 2 (create it, or check the config on the host that runs it)`;
    }
    return `privileges: could not check the user on this host (${err.message})`;
  }
}

/** `--user USER[:GROUP]` (names or numbers) as a privileges: section; null when malformed. */
export function parseUserOption(v: string): { user: string; group?: string } | null {
  const m = /^([^:\s]{1,64})(?::([^:\s]{1,64}))?$/.exec(v);
  if (!m) return null;
  return m[2] === undefined ? { user: m[1]! } : { user: m[1]!, group: m[2] };
}

async function run(io: CliIo, values: Values): Promise<number> {
  if (typeof values.config !== 'string') return usageError(io, "'run' needs --config FILE");
  const privileges = typeof values.user === 'string' ? parseUserOption(values.user) : undefined;
  if (privileges === null) return usageError(io, `--user takes USER or USER:GROUP (got '${String(values.user)}')`);
  const [{ startDaemon }, { ConfigLoadError }] = await Promise.all([daemonModule(), configFileModule()]);
  try {
    const d = await startDaemon({ configPath: values.config, ...(typeof values.socket === 'string' ? { socketPath: values.socket } : {}),
      ...(privileges ? { privileges } : {}) });
    await d.closed;
    return 0;
  } catch (err) {
    if (err instanceof ConfigLoadError) {
      for (const line of err.issues) io.stderr.write(`${line}\n`);
      io.stderr.write(`branchgate: fix the config (check it with \`branchgate check-config ${values.config}\`)\n`);
      return 2;
    }
    io.stderr.write(`branchgate: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** Send one request; print the daemon's error and map it to an exit status on failure. */
async function call(io: CliIo, sock: string, cmd: Command, args?: ControlRequest['args'], timeoutMs?: number): Promise<{ result: unknown } | number> {
  try {
    const res = await request(sock, cmd, args, timeoutMs === undefined ? {} : { timeoutMs });
    if (res.ok) return { result: res.result };
    io.stderr.write(`branchgate: ${res.error}\n`);
    return res.code === 'failed' ? 1 : 2;
  } catch (err) {
    if (!(err instanceof ControlClientError)) throw err;
    io.stderr.write(`branchgate: ${err.message}\n`);
    return 1;
  }
}

/**
 * The daemon is our own code, same version, behind a 0600 socket: a shape check is enough
 * before treating the result as the document type it declares.
 */
function hasTunnels(x: unknown): x is { tunnels: unknown[] } {
  return typeof x === 'object' && x !== null && 'tunnels' in x && Array.isArray(x.tunnels);
}

async function query(io: CliIo, cmd: 'status' | 'list-sas', sock: string, asJson: boolean): Promise<number> {
  const r = await call(io, sock, cmd);
  if (typeof r === 'number') return r;
  if (!hasTunnels(r.result)) {
    io.stderr.write(`branchgate: the daemon at ${sock} sent an unexpected ${cmd} document — are CLI and daemon the same version?\n`);
    return 1;
  }
  if (asJson) io.stdout.write(`${JSON.stringify(r.result, null, 2)}\n`);
  else io.stdout.write(cmd === 'status' ? formatStatus(r.result as StatusDocument) : formatListSas(r.result as ListSasDocument, Date.now()));
  return 0;
}

/** `status --check`: one plugin line on stdout; every failure to ask is UNKNOWN (3), never 1 or 2. */
async function statusCheck(io: CliIo, sock: string): Promise<number> {
  let result;
  try {
    const res = await request(sock, 'status', undefined, { timeoutMs: 10_000 });
    if (!res.ok) result = checkUnknown(`the daemon at ${sock} refused status: ${res.error}`);
    else if (!hasTunnels(res.result)) result = checkUnknown(`the daemon at ${sock} sent an unexpected status document (CLI and daemon of different versions?)`);
    else result = evaluateStatus(res.result as StatusDocument);
  } catch (err) {
    if (!(err instanceof ControlClientError)) throw err;
    result = checkUnknown(err.message);
  }
  io.stdout.write(`${result.line}\n`);
  return result.code;
}

async function upDown(io: CliIo, cmd: 'up' | 'down', name: string, sock: string): Promise<number> {
  const r = await call(io, sock, cmd, { name });
  if (typeof r === 'number') return r;
  const state = typeof r.result === 'object' && r.result !== null && 'state' in r.result ? String(r.result.state) : 'unknown';
  io.stdout.write(`${name}: ${cmd} requested (now ${state}; follow with \`branchgate status\`)\n`);
  return 0;
}

/** `reload`: one line per tunnel saying what the daemon did with it. */
async function reload(io: CliIo, sock: string): Promise<number> {
  const r = await call(io, sock, 'reload', undefined, 30_000);
  if (typeof r === 'number') return r;
  const list = (k: string): string[] => {
    const v = field(r.result, k);
    return Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? x : String(field(x, 'name')))) : [];
  };
  const changed = field(r.result, 'changed');
  const lines = [
    ...list('unchanged').map((n) => `${n}: unchanged, SAs kept`),
    ...(Array.isArray(changed) ? changed : []).map((c) => {
      const keys = field(c, 'keys');
      return `${String(field(c, 'name'))}: changed (${Array.isArray(keys) ? keys.join(', ') : '?'}), re-establishing`;
    }),
    ...list('added').map((n) => `${n}: added, starting`),
    ...list('removed').map((n) => `${n}: removed, SAs deleted`),
    ...list('restartNeeded').map((k) => `${k}: changed; restart branchgate to apply it (the daemon logged what it still runs as)`),
  ];
  io.stdout.write(lines.length > 0 ? `${lines.join('\n')}\n` : 'reloaded: no tunnels configured\n');
  return 0;
}

function field(x: unknown, k: string): unknown {
  return typeof x === 'object' && x !== null && k in x ? (x as Record<string, unknown>)[k] : undefined;
}

async function rekey(io: CliIo, name: string, ike: boolean, wait: boolean, sock: string): Promise<number> {
  const what = ike ? 'IKE SA' : 'Child SA';
  const args: ControlRequest['args'] = { name, ...(ike ? { ike: true } : {}), ...(wait ? { wait: REKEY_WAIT_S } : {}) };
  const r = await call(io, sock, 'rekey', args, wait ? (REKEY_WAIT_S + 5) * 1000 : undefined);
  if (typeof r === 'number') return r;
  const ev = field(r.result, 'event');
  if (wait && ev !== undefined) {
    const spis = ike ? `${String(field(ev, 'oldSpiI'))}_i -> ${String(field(ev, 'spiI'))}_i` : `in ${String(field(ev, 'oldSpiIn'))} -> ${String(field(ev, 'spiIn'))}`;
    const by = field(ev, 'initiator') === false ? ' (the peer\'s simultaneous rekey won)' : '';
    io.stdout.write(`${name}: ${what} rekeyed, ${spis}${by}\n`);
  } else {
    io.stdout.write(`${name}: ${what} rekey requested (now ${String(field(r.result, 'state') ?? 'unknown')}; follow with \`branchgate monitor\`)\n`);
  }
  return 0;
}

/** SIGINT/SIGTERM or a closed stdout (`monitor | head`) end the stream; the handlers go with it. */
function processSignal(): { signal: AbortSignal; release(): void } {
  const ac = new AbortController();
  const abort = (): void => ac.abort();
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  process.stdout.once('error', abort);
  return {
    signal: ac.signal,
    release() {
      process.off('SIGINT', abort);
      process.off('SIGTERM', abort);
      process.stdout.off('error', abort);
    },
  };
}

/** `monitor`: one JSON line per event on stdout until interrupted (exit 0) or the daemon goes away (exit 1). */
async function monitor(io: CliIo, sock: string): Promise<number> {
  const own = io.signal === undefined ? processSignal() : undefined;
  const signal = io.signal ?? own!.signal;
  try {
    const end = await monitorStream(sock, (e) => io.stdout.write(`${JSON.stringify(e)}\n`), { signal });
    if (end.reason === 'aborted') return 0;
    if (end.reason === 'closed') {
      io.stderr.write(`branchgate: the daemon at ${sock} closed the event stream (did it stop?) — start \`branchgate run\` and run \`branchgate monitor\` again\n`);
      return 1;
    }
    io.stderr.write(`branchgate: ${end.response.error}\n`);
    return end.response.code === 'failed' ? 1 : 2;
  } catch (err) {
    if (!(err instanceof ControlClientError)) throw err;
    io.stderr.write(`branchgate: ${err.message}\n`);
    return 1;
  } finally {
    own?.release();
  }
}

function algs(ike: { encr: string; integ?: string; prf: string; dh: string } | null): string {
  return ike === null ? '-' : [ike.encr, ike.integ, ike.prf, ike.dh].filter((x) => x !== undefined).join('/');
}

/** `gsa-primary  established  192.0.2.10:4500 -> 20.245.111.21:4500  AES_GCM_16_256/...  1 child` */
export function formatStatus(doc: StatusDocument): string {
  if (doc.tunnels.length === 0) return 'no tunnels configured\n';
  const rows = doc.tunnels.map((t) => [t.name, t.state, `${t.local ?? '-'} -> ${t.remote ?? '-'}`, algs(t.ike),
    `${t.children.length} ${t.children.length === 1 ? 'child' : 'children'}`]);
  for (const n of doc.bgp?.neighbors ?? []) rows.push([`bgp ${n.address}`, n.state, `${n.received} received`, `${n.advertised} advertised`, '']);
  if (doc.ha) rows.push([`ha vrid ${doc.ha.routerId}`, doc.ha.role, `priority ${doc.ha.priority}${doc.ha.healthy ? '' : ' (unhealthy)'}`, doc.ha.virtualAddresses.join(' '), doc.ha.splitBrain ? 'SPLIT BRAIN' : '']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd() + '\n').join('');
}

function rel(iso: string | null, now: number, past: string, future: string): string | null {
  if (iso === null) return null;
  const s = Math.round((Date.parse(iso) - now) / 1000);
  return s <= 0 ? `${past} ${-s}s ago` : `${future} in ${s}s`;
}

/** Modelled on `swanctl --list-sas`; `_i*` marks our own side of the IKE SA. */
export function formatListSas(doc: ListSasDocument, now: number): string {
  const out: string[] = [];
  for (const t of doc.tunnels) {
    const ike = t.ike;
    const spis = ike === null ? 'no IKE SA' : `${ike.spiI}_i${ike.initiator ? '*' : ''} ${ike.spiR}_r${ike.initiator ? '' : '*'}`;
    out.push(`${t.name}: ${t.state.toUpperCase()}, IKEv2, ${spis}`);
    out.push(`  local  ${t.local ?? '-'}`, `  remote ${t.remote ?? '-'}${t.natDetected ? ', NAT detected' : ''}`);
    if (ike !== null) {
      out.push(`  ${algs(ike)}`);
      out.push(`  ${[rel(ike.establishedAt, now, 'established', 'established'), rel(ike.rekeyAt, now, 'rekey due', 'rekeying')].filter(Boolean).join(', ')}`);
    }
    for (const c of t.children) {
      out.push(`  ${t.name}: INSTALLED, TUNNEL, ${c.encap ? 'ESP in UDP' : 'ESP'}: ${[c.encr, c.integ].filter(Boolean).join('/')}, ${c.esn ? 'ESN' : 'no ESN'}`);
      out.push(`    ${[rel(c.installedAt, now, 'installed', 'installed'), rel(c.rekeyAt, now, 'rekey due', 'rekeying')].filter(Boolean).join(', ')}`);
      out.push(`    in  ${c.spiIn}, ${c.bytesIn} bytes, ${c.packetsIn} packets, ${c.replayDrops} replay drops, ${c.authFailures} auth failures`);
      out.push(`    out ${c.spiOut}, ${c.bytesOut} bytes, ${c.packetsOut} packets`);
      out.push(`    local  ${c.localTs.join(' ')}`, `    remote ${c.remoteTs.join(' ')}`);
    }
  }
  const u = doc.udp;
  out.push(`udp: ${u.ikeIn500 + u.ikeIn4500} IKE in, ${u.ikeOut} out, ${u.natKeepalives} keepalives in, ${u.natKeepalivesOut ?? 0} out, ${u.espDropped} ESP dropped, ${u.malformed} malformed, ${u.handlerErrors} handler errors`);
  if (doc.dataplane) out.push(`datapath drops: ${nonZero(Object.entries(doc.dataplane.drops))}`);
  if (doc.udpSockets) out.push(`kernel socket drops: ${doc.udpSockets.map((s) => `${s.socket} ${s.drops}`).join(', ') || 'no sockets'}`);
  return out.join('\n') + '\n';
}

/** `replay 500, unknown-spi 12` (largest first), or `none`: the reasons are in docs/hardening.md and the metric's help. */
function nonZero(counts: [string, number][]): string {
  const hit = counts.filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  return hit.length === 0 ? 'none' : hit.map(([k, n]) => `${k} ${n}`).join(', ');
}

/** Run only when executed as the program (bin/branchgate.js or dist/cli.js), not when imported by tests. */
function isEntry(): boolean {
  const a = process.argv[1];
  if (a === undefined) return false;
  try {
    const real = realpathSync(a);
    return real === fileURLToPath(import.meta.url) || /[\\/]bin[\\/]branchgate(\.js)?$/.test(real);
  } catch {
    return false;
  }
}

if (isEntry()) {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
    (code) => {
      process.exitCode = code;
      // Belt and braces: a forgotten handle must not keep a finished CLI (or daemon) alive.
      setTimeout(() => process.exit(code), 2000).unref();
    },
    (err: unknown) => {
      process.stderr.write(`branchgate: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\nplease report this\n`);
      process.exitCode = 1;
    },
  );
}
