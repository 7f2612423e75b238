/**
 * The daemon's control socket seen from the soak: the round trip of one `status` request, timed
 * (a second view of event-loop delay: the answer is built on the daemon's event loop), and the
 * few fields of the status document the soak follows (docs/contract.md).
 *
 * The client is the built one (dist/control/client.js), loaded at run time: this folder is also
 * compiled on its own for bench/soak.mjs (bench/tsconfig.lab.json), which cannot import src/.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../lab/branchgate.js';

type Response = { ok: true; result: unknown } | { ok: false; error: string };
type RequestFn = (path: string, cmd: 'status', args?: undefined, opts?: { timeoutMs?: number }) => Promise<Response>;

let requestFn: RequestFn | undefined;

async function client(): Promise<RequestFn> {
  if (!requestFn) {
    const mod = (await import(pathToFileURL(join(REPO_ROOT, 'dist', 'control', 'client.js')).href)) as { request?: unknown };
    if (typeof mod.request !== 'function') throw new Error('dist/control/client.js exports no request(): rebuild with `npm run build`');
    requestFn = mod.request as RequestFn;
  }
  return requestFn;
}

/** What the soak reads from one `status` answer. */
export interface StatusView {
  /** Round trip of the request over the control socket, ms. */
  ms: number;
  nativeFastPath: boolean;
  state: string;
  /** `spiI/spiR` of the IKE SA ('' when none). */
  ikeSpis: string;
  /** spiIn of every installed Child SA. */
  childSpisIn: string[];
}

const rec = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** One timed `status` request for tunnel `name`; rejects when the daemon does not answer in time. */
export async function timedStatus(socket: string, name: string, timeoutMs = 10_000): Promise<StatusView> {
  const request = await client();
  const t0 = performance.now();
  const res = await request(socket, 'status', undefined, { timeoutMs });
  const ms = performance.now() - t0;
  if (!res.ok) throw new Error(`status: ${res.error}`);
  const doc = rec(res.result);
  const tunnel = rec(arr(doc.tunnels).find((t) => rec(t).name === name));
  const ike = rec(tunnel.ike);
  return {
    ms,
    nativeFastPath: doc.nativeFastPath === true,
    state: str(tunnel.state) || 'absent',
    ikeSpis: ike.spiI ? `${str(ike.spiI)}/${str(ike.spiR)}` : '',
    childSpisIn: arr(tunnel.children).map((c) => str(rec(c).spiIn)),
  };
}
