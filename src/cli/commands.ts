/**
 * The one command table. Option parsing (src/cli.ts), `branchgate help`, the bash and zsh
 * completions (completion.ts) and the man page (manpage.ts) are all generated from it, so a new
 * option appears everywhere or nowhere. docs/cli.md describes the commands for people.
 */

/** What a shell should offer for an argument or option value. */
export type Complete = 'file' | 'tunnel' | 'user' | 'none' | readonly string[];

export interface OptionSpec {
  name: string;
  short?: string;
  /** Present: the option takes a value, shown as this word (FILE, PATH…). */
  value?: string;
  complete?: Complete;
  help: string;
}

export interface ArgSpec {
  name: string;
  optional?: boolean;
  complete?: Complete;
}

export interface CommandSpec {
  name: string;
  args: readonly ArgSpec[];
  options: readonly OptionSpec[];
  /** One line for `branchgate help`. */
  summary: string;
  /** More for the man page (paragraphs). */
  details?: readonly string[];
  /** `lab up|down|status`: handled by src/lab/cli.ts with these subcommands' options. */
  subcommands?: readonly CommandSpec[];
}

import { DEFAULT_SOCKET } from '../control/client.js';

export const DEFAULT_CONFIG = '/etc/branchgate/config.yaml';
/** How long `up --wait` / `down --wait` wait by default (seconds). */
export const DEFAULT_WAIT_S = 30;

const json: OptionSpec = { name: 'json', help: 'print JSON instead of text' };
const socket: OptionSpec = { name: 'socket', value: 'PATH', complete: 'file',
  help: `the daemon's control socket (default: $BRANCHGATE_SOCKET, else control.socket of the config file, else ${DEFAULT_SOCKET})` };
const config: OptionSpec = { name: 'config', short: 'c', value: 'FILE', complete: 'file',
  help: `the config file (default: $BRANCHGATE_CONFIG, else ${DEFAULT_CONFIG})` };
const findConfig: OptionSpec = { ...config, help: `the config file whose control.socket is used when --socket is absent (default ${DEFAULT_CONFIG})` };
const daemon = [socket, findConfig];
const wait: OptionSpec = { name: 'wait', help: 'return only once the tunnel reached the state; exit 1 if it did not in time' };
const timeout: OptionSpec = { name: 'timeout', value: 'SECONDS', complete: 'none', help: `how long --wait waits (default ${DEFAULT_WAIT_S})` };
const fileArg: ArgSpec = { name: 'FILE', optional: true, complete: 'file' };
const offline: OptionSpec = { name: 'offline', help: 'secrets (pskFile, pskEnv) may be absent and host checks are skipped: for config repositories checked in CI' };
const tunnelArg: ArgSpec = { name: 'NAME', complete: 'tunnel' };

export const COMMANDS: readonly CommandSpec[] = [
  { name: 'run', args: [], options: [config, socket,
    { name: 'user', short: 'u', value: 'USER[:GROUP]', complete: 'user', help: 'started as root: become USER after setup (overrides privileges:)' }],
  summary: 'run the daemon in the foreground (SIGINT/SIGTERM stop it, SIGHUP reloads)',
  details: ['Under systemd (NOTIFY_SOCKET set) it reports READY=1 once the sockets, TUN devices and config are applied, keeps STATUS= current and sends WATCHDOG=1 when WatchdogSec= is set. Exit status 2 is a config error: fix the file, restarting does not help.'] },
  { name: 'check-config', args: [fileArg], options: [json,
    { name: 'strict', help: 'warnings fail too (exit 2)' }, offline],
  summary: 'validate a config file: FILE:LINE:COL per problem, exit 2 if any' },
  { name: 'show-config', args: [fileArg], options: [json, offline],
    summary: 'print the effective config: profiles expanded, defaults filled, secrets hidden' },
  { name: 'status', args: [], options: [json,
    { name: 'check', help: 'one monitoring-plugin line; exit 0 all up, 1 degraded, 2 a tunnel or BGP session down, 3 unknown' }, ...daemon],
  summary: 'one line per tunnel and BGP session, the status document (--json) or a plugin verdict (--check)',
  details: ['--check prints one line as monitoring plugins do (BRANCHGATE OK - 2/2 tunnels established, BGP 2/2 established | perfdata) and exits 0 when every tunnel is established and every BGP session Established, 1 when nothing is down but a tunnel is still negotiating or being deleted, 2 when a tunnel is down or a BGP session is not Established, 3 when the daemon cannot be asked.'] },
  { name: 'list-sas', args: [], options: [json, ...daemon], summary: 'IKE and Child SAs: algorithms, SPIs, counters, rekey times; drops by reason' },
  { name: 'up', args: [tunnelArg], options: [wait, timeout, ...daemon], summary: 'bring a tunnel up (--wait: until it is established)' },
  { name: 'down', args: [tunnelArg], options: [wait, timeout, ...daemon], summary: 'take a tunnel down (--wait: until it is down)' },
  { name: 'rekey', args: [tunnelArg], options: [{ name: 'ike', help: 'rekey the IKE SA instead of the Child SA' },
    { name: 'wait', help: 'return when the rekey is done' }, ...daemon], summary: "rekey a tunnel's Child SA (or its IKE SA)" },
  { name: 'reload', args: [], options: [...daemon], summary: 're-read the config file; unchanged tunnels keep their SAs; exit 2 if the file is bad' },
  { name: 'monitor', args: [], options: [...daemon], summary: 'stream events (tunnel up/down, rekeys, DPD, NAT, BGP) as JSON lines' },
  { name: 'lab', args: [{ name: 'up|down|status', complete: ['up', 'down', 'status'] }], options: [],
    summary: 'the namespace lab: a branch, branchgate and a GSA-like endpoint (root)',
    subcommands: [
      { name: 'up', args: [], summary: 'build the lab and print what to try', options: [
        { name: 'endpoints', value: '1|2', complete: ['1', '2'], help: 'emulated GSA endpoints (default 1)' },
        { name: 'nat', help: 'masquerade the CPE' },
        { name: 'endpoint', value: 'strongswan|branchgate', complete: ['strongswan', 'branchgate'], help: 'what plays GSA (default strongswan)' },
        { name: 'dpd', value: 'SECONDS', complete: 'none', help: 'DPD interval of the CPE tunnels' },
        { name: 'profile', value: 'microsoft|internet', complete: ['microsoft', 'internet'], help: 'internet: the endpoint announces the whole internet, bglab-wan plays the ISP (default microsoft)' },
        { name: 'internet-routes', value: 'default|split|many', complete: ['default', 'split', 'many'], help: 'with --profile internet: 0.0.0.0/0, the two /1 halves, or 3,552 /12s' },
        { name: 'ha', help: 'an HA pair instead: two CPE boxes sharing the branch gateway through VRRP (takes only --dpd and --dir)' },
        { name: 'dir', value: 'DIR', complete: 'file', help: 'configs, logs and sockets (default /var/lib/branchgate-lab)' }] },
      { name: 'status', args: [], summary: 'what runs, tunnel and BGP state', options: [json,
        { name: 'dir', value: 'DIR', complete: 'file', help: 'the lab directory' }] },
      { name: 'down', args: [], summary: 'remove every bglab-* namespace, process and DIR', options: [
        { name: 'dir', value: 'DIR', complete: 'file', help: 'the lab directory' }] },
    ] },
  { name: 'version', args: [], options: [json], summary: 'version, and whether the native fast path is loaded' },
  { name: 'completion', args: [{ name: 'bash|zsh', complete: ['bash', 'zsh'] }], options: [], summary: 'print the shell completion script' },
  { name: 'help', args: [{ name: 'COMMAND', optional: true, complete: 'none' }], options: [], summary: 'this text, or one command in detail' },
];

export function command(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** `status [--json] [--check] [--socket PATH] [--config FILE]` */
export function synopsis(c: CommandSpec, prefix = ''): string {
  const args = c.args.map((a) => (a.optional ? `[${a.name}]` : a.name));
  const opts = c.options.map((o) => `[--${o.name}${o.value ? ` ${o.value}` : ''}]`);
  return [`${prefix}${c.name}`, ...args, ...opts].join(' ');
}

export const EXIT_TEXT = 'Exit status: 0 ok, 1 runtime failure, 2 usage or config error (status --check: 0-3, see `branchgate help status`).';

/** `branchgate help`: one line per command. */
export function usageText(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(w)}${c.summary}`);
  return `usage: branchgate <command> [options]   (branchgate --version, branchgate help COMMAND)\n\ncommands:\n${lines.join('\n')}\n\n` +
    `Without --config, run, check-config and show-config read ${DEFAULT_CONFIG}; commands that talk to the\n` +
    `daemon find its socket there too.\n${EXIT_TEXT}\n`;
}

/** `branchgate help COMMAND`: synopsis and every option. */
export function commandHelp(c: CommandSpec): string {
  const out = [`usage: branchgate ${synopsis(c)}`, '', `  ${c.summary}`];
  for (const s of c.subcommands ?? []) out.push(`  branchgate ${synopsis(s, 'lab ')}`, `      ${s.summary}`);
  if (c.options.length > 0) out.push('', 'options:');
  for (const o of c.options) out.push(`  --${o.name}${o.short ? `, -${o.short}` : ''}${o.value ? ` ${o.value}` : ''}`, `      ${o.help}`);
  for (const d of c.details ?? []) out.push('', ...wrap(d, 96).map((l) => `  ${l}`));
  return `${out.join('\n')}\n`;
}

export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(/\s+/)) {
    if (cur !== '' && cur.length + 1 + word.length > width) {
      lines.push(cur);
      cur = word;
    } else cur = cur === '' ? word : `${cur} ${word}`;
  }
  if (cur !== '') lines.push(cur);
  return lines;
}
