/**
 * Readers for the two BIRD 2 reports branchgate needs, from framed replies (reply.ts):
 *
 * `show protocols all [NAME]`: code 1002 is the summary row (Name Proto Table State Since Info),
 * 1006 lines are its details. What is read from the details (BIRD 2.0 proto/bgp/bgp.c and
 * nest/proto.c print them):
 *   BGP state:          Established
 *   Neighbor address:   192.168.1.2
 *   Neighbor AS:        65476
 *   Last error:         Automatic shutdown: Route limit exceeded
 *   Channel ipv4
 *     State:          UP
 *     Import limit:   50 [HIT]
 *     Routes:         25 imported, 0 filtered, 1 exported, 25 preferred
 * Anything else is ignored, and every number is range-checked, so a new BIRD line or a
 * surprising value degrades to "unknown", not to a crash or a wrong count.
 *
 * `show route protocol NAME` (1007 lines): the networks of the protocol's routes.
 */
import { cidrToString, parseCidr } from '../config/cidr.js';
import type { Reply } from './reply.js';

export interface BirdChannel {
  name: string;
  state?: string;
  importLimit?: number;
  importLimitHit: boolean;
  imported?: number;
  filtered?: number;
  exported?: number;
  preferred?: number;
}

export interface BirdProtocol {
  name: string;
  proto: string;
  table: string;
  /** BIRD's protocol state: up, down, start, stop. */
  state: string;
  since: string;
  info: string;
  description?: string;
  /** BGP only: Idle, Connect, Active, OpenSent, OpenConfirm, Established, Close, Down. */
  bgpState?: string;
  neighborAddress?: string;
  neighborAs?: number;
  lastError?: string;
  channels: BirdChannel[];
}

/** A non-negative count below 2^32, else undefined. */
function count(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 0xffffffff ? n : undefined;
}

function summary(text: string): BirdProtocol | undefined {
  const t = text.trim().split(/\s+/);
  if (t.length < 4 || t[0] === '') return undefined;
  const [name, proto, table, state] = t as [string, string, string, string];
  // "since" is one token ("08:16:04.235", "2026-11-24") or, with an iso long timeformat, two.
  const two = /^\d{4}-\d{2}-\d{2}$/.test(t[4] ?? '') && /^\d{2}:\d{2}/.test(t[5] ?? '');
  const since = two ? `${t[4]} ${t[5]}` : (t[4] ?? '');
  const info = t.slice(two ? 6 : 5).join(' ');
  return { name, proto, table, state, since, info, channels: [] };
}

function detail(p: BirdProtocol, text: string): void {
  const line = text.trim();
  const ch = /^Channel (\S+)$/.exec(line);
  if (ch) {
    p.channels.push({ name: ch[1]!, importLimitHit: false });
    return;
  }
  const kv = /^([A-Za-z][A-Za-z0-9 ]*?):\s*(.*)$/.exec(line);
  if (!kv) return;
  const [key, value] = [kv[1]!, kv[2]!.trim()];
  const c = p.channels[p.channels.length - 1];
  if (c) {
    if (key === 'State') c.state = value;
    else if (key === 'Import limit') {
      const m = /^(\d+)(\s+\[HIT\])?/.exec(value);
      const n = count(m?.[1]);
      if (n !== undefined) c.importLimit = n;
      c.importLimitHit = Boolean(m?.[2]);
    } else if (key === 'Routes') {
      for (const m of value.matchAll(/(\d+) (imported|filtered|exported|preferred)/g)) {
        const n = count(m[1]);
        if (n !== undefined) c[m[2] as 'imported' | 'filtered' | 'exported' | 'preferred'] = n;
      }
    }
    return; // other channel lines (filters, preference, stats) are not needed
  }
  if (key === 'Description') p.description = value;
  else if (key === 'BGP state') p.bgpState = value;
  else if (key === 'Neighbor address') p.neighborAddress = value;
  else if (key === 'Neighbor AS') {
    const n = count(value);
    if (n !== undefined) p.neighborAs = n;
  } else if (key === 'Last error') p.lastError = value;
}

/** Every protocol in a `show protocols [all]` reply. */
export function parseProtocols(reply: Reply): BirdProtocol[] {
  const out: BirdProtocol[] = [];
  let cur: BirdProtocol | undefined;
  for (const l of reply.lines) {
    if (l.code === 1002) {
      cur = summary(l.text);
      if (cur) out.push(cur);
    } else if (l.code === 1006 && cur) detail(cur, l.text);
  }
  return out;
}

/** The distinct networks (canonical CIDR) of a `show route ...` reply, in order. */
export function parseRouteNets(reply: Reply): string[] {
  const seen = new Set<string>();
  for (const l of reply.lines) {
    if (l.code !== 1007) continue;
    const first = /^(\S+)/.exec(l.text)?.[1];
    const c = first === undefined ? undefined : parseCidr(first);
    if (c?.ok) seen.add(cidrToString(c.value));
  }
  return [...seen];
}
