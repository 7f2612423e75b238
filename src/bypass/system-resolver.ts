/**
 * The system resolver for bypass host names: the `nameserver` lines of /etc/resolv.conf (read at
 * start; `ip netns exec` bind-mounts /etc/netns/NAME/resolv.conf over it), queried with
 * node:dns's Resolver so each A record comes with its TTL (getaddrinfo has none).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Resolver } from 'node:dns/promises';
import type { BypassResolver } from './core.js';

/** Name servers of a resolv.conf text, in order (IPv4 and IPv6; scoped IPv6 dropped). */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && isIP(m[1]!) !== 0 && !out.includes(m[1]!)) out.push(m[1]!);
  }
  return out;
}

export function readNameservers(path = '/etc/resolv.conf'): string[] {
  try {
    return parseResolvConf(readFileSync(path, 'utf8'));
  } catch {
    return [];
  }
}

export function systemResolver(servers: readonly string[]): BypassResolver {
  // 2 s per try, 2 tries: a dead server must not hold the refresh loop for long.
  const r = new Resolver({ timeout: 2000, tries: 2 });
  if (servers.length > 0) r.setServers([...servers]);
  return {
    async resolve4(name) {
      return (await r.resolve4(name, { ttl: true })).map((a) => ({ address: a.address, ttl: a.ttl }));
    },
  };
}
