/**
 * The human forms of `status` and `list-sas`: one aligned line per tunnel and BGP session, and a
 * swanctl --list-sas–like listing. Pure functions of the documents in src/control/status.ts.
 */
import type { ListSasDocument, StatusDocument } from '../control/status.js';

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
