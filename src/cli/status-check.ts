/**
 * `branchgate status --check`: the status document judged as a monitoring plugin (Nagios,
 * Icinga, Zabbix, the container HEALTHCHECK) expects — one line of text, optional performance
 * data after a `|`, and the plugin exit codes of the Monitoring Plugins development guidelines
 * ("Plugin Return Codes"): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. docs/cli.md "status --check".
 *
 * - OK: every tunnel established (a rekey in progress counts: its SAs carry traffic) and every
 *   configured BGP session Established.
 * - WARNING (degraded): nothing is down, but a tunnel is still negotiating or being deleted —
 *   a state that passes by itself within seconds; the monitoring system's retries decide when
 *   it has lasted too long.
 * - CRITICAL: a tunnel is down (peer dead, refused, or taken down with `branchgate down`) or a
 *   BGP session is not Established.
 * - UNKNOWN: the daemon cannot be asked (not running, wrong socket, no permission), it sent
 *   something this CLI does not understand, or it has no tunnels to judge.
 */
import type { StatusDocument } from '../control/status.js';

export const CHECK_OK = 0;
export const CHECK_WARNING = 1;
export const CHECK_CRITICAL = 2;
export const CHECK_UNKNOWN = 3;
export type CheckCode = 0 | 1 | 2 | 3;

const WORD: Record<CheckCode, string> = { 0: 'OK', 1: 'WARNING', 2: 'CRITICAL', 3: 'UNKNOWN' };

export interface CheckResult {
  code: CheckCode;
  /** The whole output line, without the newline. */
  line: string;
}

/** The one line every plugin prints: `BRANCHGATE CRITICAL - text | perfdata`. */
export function checkLine(code: CheckCode, text: string, perf = ''): string {
  return `BRANCHGATE ${WORD[code]} - ${text}${perf === '' ? '' : ` | ${perf}`}`;
}

/** An UNKNOWN result, e.g. when the daemon cannot be reached. */
export function checkUnknown(why: string): CheckResult {
  return { code: CHECK_UNKNOWN, line: checkLine(CHECK_UNKNOWN, why.replace(/\s*\n\s*/g, ' ')) };
}

/** Judge a status document (pure; the thresholds are the states above). */
export function evaluateStatus(doc: StatusDocument): CheckResult {
  const n = doc.tunnels.length;
  if (n === 0) return checkUnknown('no tunnels configured');
  const up = doc.tunnels.filter((t) => t.state === 'established' || t.state === 'rekeying');
  const down = doc.tunnels.filter((t) => t.state === 'down');
  const moving = doc.tunnels.filter((t) => t.state === 'connecting' || t.state === 'deleting');
  const neighbors = doc.bgp?.neighbors ?? [];
  const bgpUp = neighbors.filter((b) => b.state === 'Established');
  const bgpNot = neighbors.filter((b) => b.state !== 'Established');
  const code: CheckCode = down.length > 0 || bgpNot.length > 0 ? CHECK_CRITICAL : moving.length > 0 ? CHECK_WARNING : CHECK_OK;
  const notUp = [...down, ...moving].map((t) => `${t.name} ${t.state}`);
  const parts = [`${up.length}/${n} tunnels established${notUp.length > 0 ? ` (${notUp.join(', ')})` : ''}`];
  if (neighbors.length > 0) {
    const bad = bgpNot.map((b) => `${b.address} ${b.state}`);
    parts.push(`BGP ${bgpUp.length}/${neighbors.length} established${bad.length > 0 ? ` (${bad.join(', ')})` : ''}`);
  }
  // Performance data: 'label'=value;warn;crit;min;max (the guidelines' format).
  const perf = [`tunnels_established=${up.length};;;0;${n}`,
    ...(neighbors.length > 0 ? [`bgp_established=${bgpUp.length};;;0;${neighbors.length}`] : [])].join(' ');
  return { code, line: checkLine(code, parts.join(', '), perf) };
}
