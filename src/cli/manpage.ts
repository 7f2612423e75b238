/**
 * branchgate(1) in roff (man(7) macros), generated from the command table (commands.ts) by
 * `branchgate help --man`; the Debian package installs it gzipped as
 * /usr/share/man/man1/branchgate.1.gz.
 */
import { COMMANDS, DEFAULT_CONFIG, type CommandSpec, synopsis } from './commands.js';
import { DEFAULT_SOCKET } from '../control/client.js';

/** Escape text for roff: backslashes, leading dots and apostrophes, hyphens in options. */
export function roff(s: string): string {
  return s.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^([.'])/gm, '\\&$1');
}

function commandSection(c: CommandSpec, prefix = ''): string[] {
  const out = ['.TP', `.B ${roff(synopsis(c, prefix))}`, roff(c.summary)];
  for (const d of c.details ?? []) out.push('.IP', roff(d));
  for (const o of c.options) {
    out.push('.RS', '.TP', `.B \\-\\-${roff(o.name)}${o.short ? `, \\-${o.short}` : ''}${o.value ? ` \\fI${roff(o.value)}\\fR` : ''}`, roff(o.help), '.RE');
  }
  for (const s of c.subcommands ?? []) out.push(...commandSection(s, `${c.name} `));
  return out;
}

export function manPage(version: string, date: string): string {
  return [
    `.TH BRANCHGATE 1 "${date}" "branchgate ${roff(version)}" "User Commands"`,
    '.SH NAME',
    'branchgate \\- IKEv2/IPsec CPE for Microsoft Global Secure Access and any IKEv2 peer',
    '.SH SYNOPSIS',
    '.B branchgate',
    '.I command',
    '.RI [ options ]',
    '.br',
    '.B branchgate \\-\\-version',
    '.SH DESCRIPTION',
    roff('branchgate connects a branch network to Microsoft Global Secure Access remote networks, or to any IKEv2 peer such as strongSwan, carrying the traffic of a TUN device as ESP in UDP. `branchgate run` is the daemon; the other commands check its config or talk to it over its control socket.'),
    '.SH COMMANDS',
    ...COMMANDS.flatMap((c) => commandSection(c)),
    '.SH FILES',
    '.TP', `.I ${roff(DEFAULT_CONFIG)}`, roff('the default config file of run, check-config and show-config; control.socket in it is where the other commands find the daemon'),
    '.TP', `.I ${roff(DEFAULT_SOCKET)}`, roff('the default control socket (mode 0600)'),
    '.TP', '.I /usr/share/branchgate/', roff('Prometheus alert rules and a Grafana dashboard for the metrics endpoint (control.metrics)'),
    '.SH ENVIRONMENT',
    '.TP', '.B BRANCHGATE_CONFIG', roff('config file used when --config is absent'),
    '.TP', '.B BRANCHGATE_SOCKET', roff('control socket used when --socket is absent'),
    '.TP', '.B NOTIFY_SOCKET, WATCHDOG_USEC, JOURNAL_STREAM', roff('set by systemd: readiness and watchdog notifications (sd_notify(3)), and journald priorities on log lines'),
    '.SH EXIT STATUS',
    roff('0 ok, 1 runtime failure, 2 usage or config error (systemd does not restart on 2). status --check: 0 all tunnels and BGP sessions up, 1 degraded (a tunnel negotiating), 2 a tunnel or BGP session down, 3 unknown (daemon unreachable).'),
    '.SH SEE ALSO',
    '.BR systemctl (1),',
    '.BR journalctl (1),',
    '.BR swanctl (8)',
    '',
  ].join('\n');
}
