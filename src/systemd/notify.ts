/**
 * The systemd service protocol, sd_notify(3) and sd_watchdog_enabled(3), for `Type=notify`
 * (docs/packaging.md "systemd"):
 *
 * - READY=1 once the UDP sockets, TUN devices, control socket and config are applied, with the
 *   first STATUS= line;
 * - STATUS= whenever the summary changes ("2/2 tunnels established, BGP 2/2"), checked every second;
 * - WATCHDOG=1 every WATCHDOG_USEC/2 from a timer on the event loop, so a blocked loop misses
 *   it and systemd restarts the service after WatchdogSec=;
 * - STOPPING=1 when the daemon begins to stop.
 *
 * Sans-IO: Notifier decides what to send and when; the transport (the native sdNotify, or an
 * array in tests) sends it. Without NOTIFY_SOCKET nothing happens at all.
 */
import { loadAddonFile } from '../native/addon-file.js';
import type { StatusDocument } from '../control/status.js';

export interface NotifyTransport {
  send(message: string): void;
}

/** The native sender (native/src/notify.c); null when the addon is not built. */
export function nativeTransport(path: string): NotifyTransport | null {
  const addon = loadAddonFile('native sd_notify', ['sdNotify']);
  if (!addon.ok) return null;
  const sdNotify = addon.mod.sdNotify as (path: string, message: string) => void;
  return { send: (m) => sdNotify(path, m) };
}

/** "2/2 tunnels established, BGP 2/2" — the STATUS= line `systemctl status` shows. */
export function statusSummary(doc: StatusDocument): string {
  const up = doc.tunnels.filter((t) => t.state === 'established' || t.state === 'rekeying').length;
  const parts = [`${up}/${doc.tunnels.length} tunnels established`];
  const n = doc.bgp?.neighbors ?? [];
  if (n.length > 0) parts.push(`BGP ${n.filter((b) => b.state === 'Established').length}/${n.length}`);
  return parts.join(', ');
}

/** WATCHDOG_USEC/2 in ms when the watchdog is meant for this process (WATCHDOG_PID), else null. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isInteger(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return null;
  return Math.max(1, Math.floor(usec / 2000));
}

export interface NotifierOptions {
  transport: NotifyTransport;
  status: () => StatusDocument;
  /** null: no watchdog. */
  watchdogMs: number | null;
  onError?: (err: unknown) => void;
  /** How often STATUS= is re-checked. */
  statusEveryMs?: number;
}

export class Notifier {
  #last = '';
  #timers: NodeJS.Timeout[] = [];
  #failed = false;
  constructor(private readonly o: NotifierOptions) {}

  #send(message: string): void {
    try {
      this.o.transport.send(message);
    } catch (err) {
      // Report once: systemd gone (or a wrong NOTIFY_SOCKET) must not flood the log.
      if (!this.#failed) this.o.onError?.(err);
      this.#failed = true;
    }
  }

  /** READY=1 with the first STATUS=, then the periodic STATUS and WATCHDOG timers. */
  ready(): void {
    this.#last = statusSummary(this.o.status());
    this.#send(`READY=1\nSTATUS=${this.#last}`);
    this.#timers.push(setInterval(() => this.refresh(), this.o.statusEveryMs ?? 1000).unref());
    if (this.o.watchdogMs !== null) this.#timers.push(setInterval(() => this.#send('WATCHDOG=1'), this.o.watchdogMs).unref());
  }

  /** Sends STATUS= if the summary changed since the last one sent. */
  refresh(): void {
    const s = statusSummary(this.o.status());
    if (s === this.#last) return;
    this.#last = s;
    this.#send(`STATUS=${s}`);
  }

  stopping(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#send('STOPPING=1\nSTATUS=stopping');
  }
}

/**
 * The daemon's hook: a Notifier when systemd asked for notifications (NOTIFY_SOCKET), else null.
 * NOTIFY_SOCKET and the watchdog variables are removed from the environment afterwards, as
 * sd_notify(unset_environment=1) does, so BIRD and `ip` never see them.
 */
export function notifierFromEnv(env: NodeJS.ProcessEnv, status: () => StatusDocument, onError: (err: unknown) => void): Notifier | null {
  const path = env.NOTIFY_SOCKET;
  if (path === undefined || path === '') return null;
  const watchdogMs = watchdogIntervalMs(env, process.pid);
  for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete env[k];
  const transport = nativeTransport(path);
  if (transport === null) {
    onError(new Error('NOTIFY_SOCKET is set but the native addon (sdNotify) is not built: systemd will not see READY=1; run `npm run build:native`'));
    return null;
  }
  return new Notifier({ transport, status, watchdogMs, onError });
}
