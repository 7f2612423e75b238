/**
 * Prometheus series of the Internet Access side (src/internet/daemon-internet.ts), rendered from
 * its status document so metrics and `status --json` never disagree. Appended to the exporter's
 * output (metrics-http.ts `extra`).
 */
import type { InternetStatus } from '../internet/daemon-internet.js';

const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function renderInternetMetrics(s: InternetStatus): string {
  const out: string[] = [];
  const family = (name: string, type: 'gauge' | 'counter', help: string, rows: string[]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...rows);
  };
  if (s.gsaRoutes) {
    family('branchgate_internet_gsa_routes_accepted', 'gauge', '1 while GSA\'s learned routes are in use (every endpoint resolves through the underlay), else 0.',
      [`branchgate_internet_gsa_routes_accepted ${s.gsaRoutes.state === 'accepted' ? 1 : 0}`]);
  }
  family('branchgate_bypass_prefixes', 'gauge', 'Underlay routes installed for bypass prefixes, host names and name servers.', [`branchgate_bypass_prefixes ${s.bypass.installed.length}`]);
  const hosts = s.bypass.hostnames;
  if (hosts.length > 0) {
    family('branchgate_bypass_hostname_addresses', 'gauge', 'Addresses installed for a bypass host name.',
      hosts.map((h) => `branchgate_bypass_hostname_addresses{hostname="${esc(h.name)}"} ${h.addresses.length}`));
    family('branchgate_bypass_hostname_last_resolved_timestamp_seconds', 'gauge', 'Unix time of the last successful resolution (0: never).',
      hosts.map((h) => `branchgate_bypass_hostname_last_resolved_timestamp_seconds{hostname="${esc(h.name)}"} ${h.lastResolved === null ? 0 : Date.parse(h.lastResolved) / 1000}`));
    family('branchgate_bypass_hostname_resolve_failures_total', 'counter', 'Failed resolutions of a bypass host name.',
      hosts.map((h) => `branchgate_bypass_hostname_resolve_failures_total{hostname="${esc(h.name)}"} ${h.failures}`));
    family('branchgate_bypass_hostname_resolving', 'gauge', '1 while the last resolution succeeded, 0 while it fails (last good addresses kept).',
      hosts.map((h) => `branchgate_bypass_hostname_resolving{hostname="${esc(h.name)}"} ${h.error === null ? 1 : 0}`));
  }
  if (s.ipv6.policy === 'block') {
    family('branchgate_ipv6_dropped_total', 'counter', 'IPv6 packets from the branch dropped by ipv6: block (nft counter inet branchgate ipv6_dropped).',
      [`branchgate_ipv6_dropped_total ${s.ipv6.dropped ?? 0}`]);
  }
  return `${out.join('\n')}\n`;
}
