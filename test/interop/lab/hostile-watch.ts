/**
 * Watching a daemon under attack: its tunnel's state and IKE SPIs once a second over the control
 * socket (straight from the test process: the socket is a file, reachable from any namespace),
 * and its log for anything that means an exception escaped.
 */
import { existsSync, readFileSync } from 'node:fs';
import { request } from '../../../src/control/client.js';
import type { Branchgate } from './branchgate.js';
import { collectGarbage as collectGarbageOver } from './inspector-gc.js';

export interface TunnelSample {
  /** ms since the sampler started. */
  at: number;
  /** The tunnel's state, or 'no-answer' when the control socket did not answer within 2 s. */
  state: string;
  /** "spiI/spiR" of its IKE SA ('' without one). */
  spis: string;
  /** Round-trip time of the list-sas request, ms. */
  rttMs: number;
}

interface ListSasTunnel {
  name: string;
  state: string;
  ike?: { spiI: string; spiR: string } | null;
}

export class TunnelSampler {
  private readonly samples: TunnelSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private readonly t0 = Date.now();

  private constructor(private readonly socket: string, private readonly tunnel: string) {}

  static start(socket: string, tunnel: string, everyMs = 1000): TunnelSampler {
    const s = new TunnelSampler(socket, tunnel);
    s.timer = setInterval(() => void s.sample(), everyMs);
    return s;
  }

  private async sample(): Promise<void> {
    if (this.busy) return; // the previous request is still out: that second shows as no-answer
    this.busy = true;
    const at = Date.now() - this.t0;
    const started = performance.now();
    try {
      const r = await request(this.socket, 'list-sas', undefined, { timeoutMs: 2000 });
      const doc = r.ok ? (r.result as { tunnels?: ListSasTunnel[] }) : {};
      const t = doc.tunnels?.find((x) => x.name === this.tunnel);
      this.samples.push({ at, state: t?.state ?? (r.ok ? 'missing' : `error: ${r.error}`), spis: t?.ike ? `${t.ike.spiI}/${t.ike.spiR}` : '', rttMs: performance.now() - started });
    } catch {
      this.samples.push({ at, state: 'no-answer', spis: '', rttMs: performance.now() - started });
    } finally {
      this.busy = false;
    }
  }

  stop(): TunnelSample[] {
    if (this.timer) clearInterval(this.timer);
    return [...this.samples];
  }

  static histogram(samples: TunnelSample[]): Record<string, number> {
    const h: Record<string, number> = {};
    for (const s of samples) h[s.state] = (h[s.state] ?? 0) + 1;
    const worst = Math.max(0, ...samples.map((s) => s.rttMs));
    return { ...h, worstRttMs: Math.round(worst) };
  }
}

/**
 * Lines in the daemon's stdout (JSON log) and stderr that mean an exception escaped somewhere:
 * Node's own unhandled-rejection / uncaught-exception reports, UdpTransport's "handler failed" and
 * "unexpected error handling a datagram", and any fatal-level record.
 */
export function daemonLogProblems(bg: Branchgate): string[] {
  const bad = /unhandled|uncaught|handler failed|unexpected error handling a datagram|"level":"fatal"|FATAL ERROR|Segmentation fault|Aborted/i;
  const out: string[] = [];
  for (const p of [bg.stdoutPath, bg.stderrPath]) {
    if (!existsSync(p)) continue;
    for (const line of readFileSync(p, 'utf8').split('\n')) if (bad.test(line)) out.push(line.slice(0, 300));
  }
  return out.slice(0, 20);
}

/** Where the daemon's inspector listens inside its namespace (NODE_OPTIONS, test runs only). */
export const INSPECT = '127.0.0.1:9230';

/**
 * Two full garbage collections in the daemon (lab/inspector-gc.ts), so RSS before and after an
 * attack compare what is retained: after a flood V8 can hold tens of MB of garbage for a minute
 * and more before its next major GC.
 */
export function collectGarbage(ns: string): Promise<void> {
  return collectGarbageOver(ns, INSPECT, 2);
}
