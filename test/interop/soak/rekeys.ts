/**
 * The soak's rekeys: a fixed plan (a Child rekey every `childEveryS`, an IKE rekey every
 * `ikeEveryS`) carried out through the CLI, `branchgate rekey NAME [--ike] --wait`, one at a
 * time. The config lifetimes are long (lab.ts), so these are the only rekeys in the run and the
 * CLI is the deterministic way to ask for them.
 */
import type { Branchgate } from '../lab/branchgate.js';

export type RekeyKind = 'child' | 'ike';

export interface PlannedRekey {
  /** Seconds after the start of the run. */
  atS: number;
  kind: RekeyKind;
}

/**
 * Every multiple of childEveryS and of ikeEveryS in (0, durationS - tailS]: the tail keeps the
 * last rekey's exchange inside the run. Where both fall on one instant the IKE rekey goes first
 * (one rekey at a time: a Child rekey during an IKE rekey may be answered TEMPORARY_FAILURE,
 * RFC 7296 §2.25, which tests the collision path, not the soak).
 */
export function rekeyPlan(durationS: number, childEveryS: number, ikeEveryS: number, tailS = 10): PlannedRekey[] {
  if (!(childEveryS > 0) || !(ikeEveryS > 0)) throw new Error('rekey intervals must be positive');
  const plan: PlannedRekey[] = [];
  const add = (every: number, kind: RekeyKind): void => {
    for (let t = every; t <= durationS - tailS; t += every) plan.push({ atS: t, kind });
  };
  add(ikeEveryS, 'ike');
  add(childEveryS, 'child');
  return plan.sort((a, b) => a.atS - b.atS || (a.kind === 'ike' ? -1 : 1));
}

export interface RekeyResult extends PlannedRekey {
  /** When the CLI was started, seconds after the start of the run (later than atS when the previous one ran long). */
  startedS: number;
  /** Wall time of `branchgate rekey --wait`, ms: a new Node process (about 0.5 s) plus the exchange. */
  ms: number;
  ok: boolean;
  /** The CLI's last output line. */
  out: string;
}

/**
 * Runs the plan against the daemon; `t0` is the run's start (Date.now()). Resolves with every
 * result once the plan is done or `stopped()` turns true.
 */
export async function runRekeys(bg: Branchgate, tunnel: string, plan: PlannedRekey[], t0: number, stopped: () => boolean,
  hooks: { onStart?: (p: PlannedRekey) => void; onDone?: (r: RekeyResult) => void } = {}): Promise<RekeyResult[]> {
  const done: RekeyResult[] = [];
  for (const p of plan) {
    while (!stopped() && Date.now() < t0 + p.atS * 1000) await new Promise((r) => setTimeout(r, Math.min(500, t0 + p.atS * 1000 - Date.now())));
    if (stopped()) break;
    const start = Date.now();
    hooks.onStart?.(p);
    const r = await bg.rekey(tunnel, { ike: p.kind === 'ike', wait: true });
    const res: RekeyResult = {
      ...p, startedS: (start - t0) / 1000, ms: Date.now() - start, ok: r.code === 0,
      out: (r.stdout + r.stderr).trim().split('\n').at(-1) ?? '',
    };
    done.push(res);
    hooks.onDone?.(res);
  }
  return done;
}
