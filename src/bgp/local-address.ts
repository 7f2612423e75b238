/**
 * The CPE BGP address must be an address of this host: BIRD binds the session to it (`source
 * address`) and GSA sends to it through the tunnel. Often it already is (GSA's own example uses
 * the LAN interface address, gsa.md §4.1 [3P L1]); when it is not, branchgate adds it as a /32
 * on `lo`, labelled `lo:branchgate` so it can be told apart, and removes it again on stop. A
 * loopback /32 is reachable through any interface, including the TUN the session arrives on.
 */
import { execFile } from 'node:child_process';

export const ADDRESS_LABEL = 'lo:branchgate';

function ip(wrap: readonly string[], args: string[]): Promise<string> {
  const [cmd, ...pre] = [...wrap, 'ip'];
  return new Promise((resolve, reject) => {
    execFile(cmd!, [...pre, ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ip ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}

interface AddrInfo {
  local?: unknown;
  label?: unknown;
}
interface Link {
  ifname?: unknown;
  addr_info?: unknown;
}

/** Where the address is configured: { ifname, ours } or undefined. Tolerates odd JSON. */
export async function findAddress(address: string, wrap: readonly string[] = []): Promise<{ ifname: string; ours: boolean } | undefined> {
  let links: unknown;
  try {
    links = JSON.parse(await ip(wrap, ['-j', '-4', 'addr', 'show']));
  } catch (e) {
    throw new Error(`cannot list addresses: ${(e as Error).message}`);
  }
  if (!Array.isArray(links)) return undefined;
  for (const l of links as Link[]) {
    if (!Array.isArray(l.addr_info)) continue;
    for (const a of l.addr_info as AddrInfo[]) {
      if (a.local === address) return { ifname: String(l.ifname), ours: a.label === ADDRESS_LABEL };
    }
  }
  return undefined;
}

/** Make address local. Returns true when branchgate added it (so it should remove it later). */
export async function ensureAddress(address: string, wrap: readonly string[] = []): Promise<boolean> {
  const found = await findAddress(address, wrap);
  if (found) return found.ours;
  await ip(wrap, ['addr', 'add', `${address}/32`, 'dev', 'lo', 'label', ADDRESS_LABEL]);
  return true;
}

/** Remove an address branchgate added (only if it still carries our label). */
export async function removeAddress(address: string, wrap: readonly string[] = []): Promise<void> {
  const found = await findAddress(address, wrap);
  if (found?.ours) await ip(wrap, ['addr', 'del', `${address}/32`, 'dev', 'lo']);
}
