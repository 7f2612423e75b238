/**
 * The hostile-traffic run's accounting: what was sent, what arrived, and where each arriving
 * datagram ended up — a kernel socket drop, a drop counted by the daemon under a named reason,
 * or an answer — computed from before/after snapshots and printed as a table.
 */
import type { Sample } from '../../helpers/exposition.js';
import { ANSWER_NOTIFIES, type UdpSocketDrops } from './hostile-lab.js';

export interface Snapshot {
  samples: Sample[];
  nft: Record<string, number>;
  udpDrops: UdpSocketDrops;
  snmp: Record<string, number>;
}

/** Sum of every sample of `name`, grouped by the value of label `by` ('' when absent). */
export function byLabel(samples: Sample[], name: string, by: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) if (s.name === name) out[s.labels[by] ?? ''] = (out[s.labels[by] ?? ''] ?? 0) + s.value;
  return out;
}

export function total(samples: Sample[], name: string): number {
  return samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
}

function delta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = (b[k] ?? 0) - (a[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

/** Answers that are not also counted as a drop by the engine (stateless refusals, real IKE_SA_INIT responses). */
export const ANSWERS_NOT_DROPS = ['outInit', 'out-invalid-ke', 'out-no-proposal', 'out-invalid-syntax'];

export interface Accounting {
  sent: number;
  arrived: number;
  /** sent − arrived, and the kernel's reassembly failures (oversize datagrams are IPv4 fragments). */
  networkLoss: number;
  reasmFails: number;
  kernelDrops: number;
  kernelDropsBySocket: Record<string, number>;
  /** The same, as the daemon exports it (branchgate_udp_receive_drops_total; NaN when absent). */
  kernelDropsMetric: number;
  udpLayer: Record<string, number>;
  ikeDrops: Record<string, number>;
  espDrops: Record<string, number>;
  /** Outbound datapath drops (the tunnel's own traffic), for the record. */
  espTx: Record<string, number>;
  answers: Record<string, number>;
  answeredNotDropped: number;
  /** IKE messages the UDP layer handed to the engine, minus what the engine counted and what it answered without a drop. */
  ikeUnaccounted: number;
  /** sent − (networkLoss + kernelDrops + udp-layer drops + IKE drops + answers not dropped + ESP drops). */
  unaccounted: number;
  /** Whether the daemon exports ESP drops by reason (branchgate_esp_datagrams_dropped_total). */
  espByReason: boolean;
}

export function account(sent: number, before: Snapshot, after: Snapshot): Accounting {
  const arrivedBy = delta(before.nft, after.nft);
  const arrived = ['in500', 'in4500ike', 'in4500esp', 'inOther'].reduce((a, k) => a + (arrivedBy[k] ?? 0), 0);
  const kernelDropsBySocket = delta(before.udpDrops.bySocket, after.udpDrops.bySocket);
  const kernelDrops = after.udpDrops.total - before.udpDrops.total;
  const u = (name: string) => total(after.samples, name) - total(before.samples, name);
  const ikeIn = u('branchgate_udp_ike_received_total');
  const kernelDropsMetric = after.samples.some((x) => x.name === 'branchgate_udp_receive_drops_total') ? u('branchgate_udp_receive_drops_total') : NaN;
  const udpLayer = {
    'udp malformed (neither IKE nor ESP)': u('branchgate_udp_malformed_total'),
    'NAT keepalives': u('branchgate_udp_nat_keepalives_received_total'),
    'ESP dropped before the datapath': u('branchgate_udp_esp_dropped_total'),
    'handler errors': u('branchgate_udp_handler_errors_total'),
  };
  const ikeDrops = delta(byLabel(before.samples, 'branchgate_ike_datagrams_dropped_total', 'reason'), byLabel(after.samples, 'branchgate_ike_datagrams_dropped_total', 'reason'));
  const espByReason = after.samples.some((s) => s.name === 'branchgate_esp_datagrams_dropped_total');
  const espAll = espByReason
    ? delta(byLabel(before.samples, 'branchgate_esp_datagrams_dropped_total', 'reason'), byLabel(after.samples, 'branchgate_esp_datagrams_dropped_total', 'reason'))
    : {};
  // receive reasons only: the tx-* ones are the tunnel's own outbound traffic, shown apart
  const espTx = Object.fromEntries(Object.entries(espAll).filter(([k]) => k.startsWith('tx-')));
  const espDrops = espByReason
    ? Object.fromEntries(Object.entries(espAll).filter(([k]) => !k.startsWith('tx-')))
    : { replay: u('branchgate_tunnel_replay_drops_total'), auth: u('branchgate_tunnel_auth_failures_total'), policy: u('branchgate_tunnel_policy_drops_total') };
  const answers: Record<string, number> = {};
  for (const k of ['outInit', ...Object.keys(ANSWER_NOTIFIES).map((x) => `out-${x}`), 'outNotifyOther', 'outOther']) answers[k] = arrivedBy[k] ?? 0;
  const answeredNotDropped = ANSWERS_NOT_DROPS.reduce((a, k) => a + (answers[k] ?? 0), 0);
  const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  const reasmFails = (after.snmp['Ip.ReasmFails'] ?? 0) - (before.snmp['Ip.ReasmFails'] ?? 0);
  const networkLoss = sent - arrived;
  const ikeUnaccounted = ikeIn - sum(ikeDrops) - answeredNotDropped;
  const unaccounted = sent - (networkLoss + kernelDrops + sum(udpLayer) + sum(ikeDrops) + answeredNotDropped + sum(espDrops));
  return {
    sent, arrived, networkLoss, reasmFails, kernelDrops, kernelDropsBySocket, kernelDropsMetric, udpLayer, ikeDrops, espDrops, espTx, answers,
    answeredNotDropped, ikeUnaccounted, unaccounted, espByReason,
  };
}

export function formatAccounting(a: Accounting, pool: Record<string, number>, scale: number, expect: Record<string, { expect: string }>): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const rows: string[] = [];
  const row = (what: string, v: number, note = '') => rows.push(`| ${what} | ${n(v)} | ${note} |`);
  rows.push('| sent, by category | datagrams | expected to end as |', '|---|---:|---|');
  for (const [c, k] of Object.entries(pool)) row(c, k * scale, expect[c]?.expect ?? '');
  rows.push('', '| where they went | datagrams | |', '|---|---:|---|');
  row('sent (blast)', a.sent);
  row('arrived at the CPE (nft, DSCP CS1, after reassembly)', a.arrived);
  row('lost on the way (sent − arrived)', a.networkLoss, `IPv4 reassembly failures in cpe: ${n(a.reasmFails)}`);
  row('kernel socket receive drops (/proc/net/udp)', a.kernelDrops, `${Object.entries(a.kernelDropsBySocket).map(([k, v]) => `${k}: ${n(v)}`).join(', ')}; the daemon's branchgate_udp_receive_drops_total: ${n(a.kernelDropsMetric)}`);
  for (const [k, v] of Object.entries(a.udpLayer)) row(`UDP layer: ${k}`, v);
  for (const [k, v] of Object.entries(a.ikeDrops)) row(`IKE engine drop: ${k}`, v);
  for (const [k, v] of Object.entries(a.espDrops)) row(`ESP drop: ${k}`, v, a.espByReason ? '' : '(tunnel counters: no ESP drop-by-reason metric in this build)');
  for (const [k, v] of Object.entries(a.espTx)) row(`(outbound, not part of the sum) ESP ${k}`, v);
  row('answered without a drop (IKE_SA_INIT responses, INVALID_KE, NO_PROPOSAL_CHOSEN, INVALID_SYNTAX)', a.answeredNotDropped);
  row('unaccounted', a.unaccounted, `IKE handed to the engine but neither counted nor answered: ${n(a.ikeUnaccounted)}`);
  rows.push('', '| answers to the spoofed pool (nft) | datagrams |', '|---|---:|');
  for (const [k, v] of Object.entries(a.answers)) rows.push(`| ${k} | ${n(v)} |`);
  return rows.join('\n');
}
