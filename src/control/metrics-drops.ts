/**
 * The exporter's drop and bound series, one concern: where branchgate threw something away, and
 * why, so a flood or a stuck client is visible (docs/hardening.md: every rejected datagram counted
 * under a named reason; bounded queues, all counted).
 *
 * | series | type | labels | source |
 * |---|---|---|---|
 * | branchgate_esp_datagrams_dropped_total | counter | reason | Dataplane.drops() (list-sas dataplane.drops) |
 * | branchgate_udp_receive_drops_total | counter | socket | /proc/net/udp `drops` of our sockets (list-sas udpSockets) |
 * | branchgate_udp_receive_queue_bytes | gauge | socket | /proc/net/udp rx_queue of our sockets |
 * | branchgate_control_connections_dropped_total | counter | reason | ControlServer.counters() (list-sas control) |
 * | branchgate_metrics_requests_refused_total | counter | reason | this exporter's own HTTP bounds |
 *
 * Sockets sharing an address (UdpTransport's and the native engine's SO_REUSEPORT socket on the
 * same port 4500) are summed under one `socket` label; each socket's count is taken by inode, so a
 * closed socket's drops stay in the total and a new one starts from zero.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { ESP_DROP_HELP, ESP_DROP_REASONS } from '../dataplane/drops.js';
import type { ControlCounters } from './server.js';
import { Deltas, key } from './metrics-deltas.js';
import type { MetricsSnapshot } from './metrics-input.js';

const CONTROL_REASONS: ReadonlyArray<[keyof ControlCounters, string]> = [
  ['connectionsRefused', 'max-connections'],
  ['requestsTooLarge', 'request-too-large'],
  ['requestsPipelined', 'pipelined'],
  ['monitorDisconnects', 'monitor-not-reading'],
];

/** Socket labels kept after their sockets closed; past it only live ones stay (ours are a handful). */
const MAX_SOCKET_LABELS = 64;

/** Why the /metrics listener refused a request (its own bounds, metrics-http.ts). */
export type MetricsRefusal = 'max-connections' | 'request-too-large';

const ESP_HELP = 'ESP-in-UDP datagrams the datapath dropped (tx-*: inner packets it did not send), by reason. '
  + 'Packets for Child SAs that were deleted (rekeyed away, expired) count as unknown-spi. Reasons: '
  + ESP_DROP_REASONS.map((r) => `${r} = ${ESP_DROP_HELP[r]}`).join('; ');

export class DropSeries {
  readonly #raw = new Deltas();
  /** Every socket label seen: its total keeps being exported after its sockets closed. */
  readonly #sockets = new Set<string>();
  readonly #esp;
  readonly #udpDrops;
  readonly #udpQueue;
  readonly #control;
  readonly #refused;

  constructor(registers: Registry[]) {
    this.#esp = new Counter<'reason'>({ name: 'branchgate_esp_datagrams_dropped_total', help: ESP_HELP, labelNames: ['reason'], registers });
    this.#udpDrops = new Counter<'socket'>({
      name: 'branchgate_udp_receive_drops_total', labelNames: ['socket'], registers,
      help: 'datagrams the kernel dropped for our UDP sockets before branchgate read them (receive buffer full), /proc/net/udp drops',
    });
    this.#udpQueue = new Gauge<'socket'>({
      name: 'branchgate_udp_receive_queue_bytes', labelNames: ['socket'], registers,
      help: 'octets waiting in our UDP sockets\' receive queues, /proc/net/udp rx_queue',
    });
    this.#control = new Counter<'reason'>({
      name: 'branchgate_control_connections_dropped_total', labelNames: ['reason'], registers,
      help: 'control socket connections closed by a bound: max-connections (32 open), request-too-large (64 KiB line), '
        + 'pipelined (16 unanswered requests), monitor-not-reading (1 MiB of events queued)',
    });
    this.#refused = new Counter<'reason'>({
      name: 'branchgate_metrics_requests_refused_total', labelNames: ['reason'], registers,
      help: 'requests the /metrics listener refused: max-connections (connections over its cap), request-too-large (headers or a body)',
    });
    for (const reason of ['max-connections', 'request-too-large'] satisfies MetricsRefusal[]) this.#refused.inc({ reason }, 0);
  }

  /** The /metrics listener refused a request (counted at once: it is an event, not a snapshot value). */
  refused(reason: MetricsRefusal): void {
    this.#refused.inc({ reason });
  }

  update(s: MetricsSnapshot): void {
    for (const c of [this.#esp, this.#udpDrops, this.#udpQueue, this.#control]) c.reset();
    // Every reason from the start, so rate() works before the first drop.
    const esp = s.espDrops;
    if (esp) {
      for (const reason of new Set([...ESP_DROP_REASONS, ...Object.keys(esp)])) {
        const id = key('esp', reason);
        this.#esp.inc({ reason }, this.#raw.add(id, id, esp[reason] ?? 0));
      }
    }
    if (s.udpSockets) {
      const live = new Set<string>();
      const queued = new Map<string, number>();
      for (const u of s.udpSockets) {
        const id = key('sock', String(u.inode));
        live.add(id);
        this.#sockets.add(u.socket);
        this.#raw.add(id, key('socket', u.socket), u.drops);
        queued.set(u.socket, (queued.get(u.socket) ?? 0) + u.receiveQueue);
      }
      this.#raw.forget((k) => !k.startsWith(key('sock', '')) || live.has(k));
      // Short-lived sockets (a route lookup caught mid-scrape) must not grow the label set forever.
      if (this.#sockets.size > MAX_SOCKET_LABELS) for (const l of this.#sockets) if (!queued.has(l)) this.#sockets.delete(l);
      for (const socket of this.#sockets) this.#udpDrops.inc({ socket }, this.#raw.total(key('socket', socket)));
      for (const [socket, q] of queued) this.#udpQueue.set({ socket }, q);
    }
    if (s.control) {
      for (const [field, reason] of CONTROL_REASONS) {
        const id = key('control', field);
        this.#control.inc({ reason }, this.#raw.add(id, id, s.control[field]));
      }
    }
  }
}
