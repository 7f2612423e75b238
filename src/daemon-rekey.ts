/**
 * `branchgate rekey NAME [--ike] [--wait S]`: start the CREATE_CHILD_SA exchange and answer at
 * once, or (with --wait) when the tunnel reports the rekey done, whichever side's exchange won a
 * collision (RFC 7296 §2.8.1/§2.8.2), or fail when the tunnel goes down or S seconds pass.
 */
import type { Action, EngineEvent } from './ike/actions.js';
import { ControlError } from './control/server.js';
import type { ControlRequest } from './control/protocol.js';
import { describeEvent } from './daemon-events.js';

export interface RekeyHost {
  readonly engine: { rekey(name: string, what: 'child' | 'ike', now: number): Action[] };
  run(fn: (now: number) => Action[]): void;
  subscribe(fn: (e: EngineEvent) => void): () => void;
  status(): { tunnels: { name: string; state: string }[] };
}

/** `name` is a configured tunnel (the caller checked). */
export function rekeyCommand(d: RekeyHost, name: string, req: ControlRequest): unknown {
  const what = req.args?.ike === true ? 'ike' : 'child';
  const label = what === 'ike' ? 'IKE SA' : 'Child SA';
  const state = (): string => d.status().tunnels.find((t) => t.name === name)?.state ?? 'down';
  const s = state();
  if (s !== 'established' && s !== 'rekeying') {
    throw new ControlError('failed', `tunnel '${name}' is ${s}, so there is no ${label} to rekey — bring it up with \`branchgate up ${name}\` and wait for \`branchgate status\` to say established`);
  }
  const wait = req.args?.wait;
  let done: Promise<unknown> | undefined;
  let cancel = (): void => undefined;
  if (wait !== undefined) {
    done = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cancel();
        reject(new ControlError('failed', `the ${label} rekey of '${name}' did not complete within ${wait} s — see the daemon log or \`branchgate monitor\``));
      }, wait * 1000);
      const off = d.subscribe((e) => {
        if (e.tunnel !== name) return;
        if ((what === 'child' && e.type === 'child-rekeyed') || (what === 'ike' && e.type === 'ike-rekeyed')) {
          cancel();
          resolve({ tunnel: name, requested: `rekey-${what}`, completed: true, event: e, state: state() });
        } else if (e.type === 'ike-down' || e.type === 'dpd-dead') {
          cancel();
          reject(new ControlError('failed', `the ${label} rekey of '${name}' did not complete: ${describeEvent(e).msg} — see \`branchgate status\``));
        }
      });
      cancel = () => {
        clearTimeout(timer);
        off();
      };
    });
  }
  try {
    d.run((now) => d.engine.rekey(name, what, now));
  } catch (err) {
    cancel();
    throw err;
  }
  return done ?? { tunnel: name, requested: `rekey-${what}`, state: state() };
}
