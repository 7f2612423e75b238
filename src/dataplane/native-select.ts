/**
 * Which dataplane the daemon runs (used by kernelDatapath() in src/datapath.ts):
 *
 *   BRANCHGATE_DATAPLANE=native  the native fast path, or fail to start saying why;
 *   BRANCHGATE_DATAPLANE=ts      the TypeScript reference path;
 *   unset (or "auto")            native when the addon loads and can share port 4500, else
 *                                TypeScript (a Node warning says why, when the addon is there
 *                                but could not be used).
 *
 * BRANCHGATE_NO_NATIVE=1 (read by the addon loaders) also means TypeScript.
 * The last choice is kept for `status` and the benchmark: lastDataplaneChoice().
 */
import { TunDevice } from '../net/tun.js';
import { loadNativeDataplane } from '../native/esp-native.js';
import { NativeDataplane, type EndpointSource, type NativeSocketInfo } from './native-dataplane.js';
import { TsDataplane, type EspSender } from './ts-dataplane.js';
import type { Dataplane } from './types.js';

export type DataplaneKind = 'native' | 'ts';

export interface DataplaneChoice {
  kind: DataplaneKind;
  reason: string;
  sockets: NativeSocketInfo[];
}

let last: DataplaneChoice | null = null;

/** What the most recent selectDataplane() picked and why (null before the first call). */
export function lastDataplaneChoice(): DataplaneChoice | null {
  return last;
}

function hasEndpoints(s: EspSender): s is EspSender & EndpointSource {
  return typeof (s as Partial<EndpointSource>).endpoints === 'function';
}

export function selectDataplane(sender: EspSender, env: NodeJS.ProcessEnv = process.env): Dataplane {
  const want = (env.BRANCHGATE_DATAPLANE ?? 'auto').toLowerCase();
  if (want !== 'auto' && want !== 'native' && want !== 'ts') {
    throw new Error(`BRANCHGATE_DATAPLANE must be "native", "ts" or unset (got "${env.BRANCHGATE_DATAPLANE}")`);
  }
  const ts = (reason: string): Dataplane => {
    last = { kind: 'ts', reason, sockets: [] };
    return new TsDataplane({ openTun: (name, mtu) => TunDevice.open(name, mtu), sender });
  };
  if (want === 'ts') return ts('BRANCHGATE_DATAPLANE=ts');
  const load = loadNativeDataplane();
  if (load.api === null || !hasEndpoints(sender)) {
    const why = load.api === null ? load.reason : 'the UDP transport does not expose its endpoints';
    if (want === 'native') throw new Error(`BRANCHGATE_DATAPLANE=native, but the native dataplane is unavailable: ${why}`);
    return ts(why);
  }
  try {
    const dp = NativeDataplane.create({ sender, api: load.api });
    const sendOnly = dp.sockets.filter((s) => s.mode === 'send-only');
    last = {
      kind: 'native',
      reason: sendOnly.length === 0 ? 'native dataplane (ESP steered to its I/O threads)'
        : `native dataplane; ESP still received through JS on ${sendOnly.map((s) => `${s.address}:${s.port} (${s.reason})`).join(', ')}`,
      sockets: dp.sockets,
    };
    return dp;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (want === 'native') throw new Error(`BRANCHGATE_DATAPLANE=native, but the native dataplane could not start: ${why}`);
    process.emitWarning(`native dataplane could not start (${why}); using the TypeScript datapath`, { code: 'BRANCHGATE_DATAPLANE' });
    return ts(why);
  }
}
