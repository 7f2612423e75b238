/**
 * ipv6: block (docs/gsa.md "IPv6"). GSA carries IPv4 only, so on a dual-stack branch every IPv6
 * packet to the internet would go around the security edge. With `block`, IPv6 forwarded by this
 * box to anything but link-local (fe80::/10) and the branch's own prefixes is dropped and
 * counted, in a table of ours (`inet branchgate`) created at start and deleted at stop; no other
 * table is touched. The count is read from the named counter (branchgate_ipv6_dropped_total).
 *
 * The chain hooks forward at priority -10, before the usual filter chains at 0: an accept in
 * another table does not override a drop here (each base chain decides on its own).
 */
import { execFile } from 'node:child_process';

export const NFT_FAMILY = 'inet';
export const NFT_TABLE = 'branchgate';

/** Runs `nft ARGS`; stdin text for `-f -`. The seam for tests. */
export type NftRunner = (args: readonly string[], stdin?: string) => Promise<string>;

export const nftRunner: NftRunner = (args, stdin) => new Promise((resolve, reject) => {
  const child = execFile('nft', [...args], { timeout: 5000, encoding: 'utf8' }, (err, stdout, stderr) => {
    if (err) reject(new Error(`nft ${args.join(' ')} failed: ${(stderr || err.message).trim()}${/not found|ENOENT/.test(err.message) ? ' — install nftables' : ''}`));
    else resolve(stdout);
  });
  if (stdin !== undefined) child.stdin?.end(stdin);
});

/** The ruleset text (for `nft -f -`). branchPrefixes are validated IPv6 prefixes. */
export function renderIpv6Guard(branchPrefixes: readonly string[]): string {
  const allowed = ['fe80::/10', ...branchPrefixes].join(', ');
  return [
    `table ${NFT_FAMILY} ${NFT_TABLE} {`,
    '  counter ipv6_dropped { }',
    '  chain ipv6_forward {',
    '    type filter hook forward priority -10; policy accept;',
    `    meta nfproto ipv6 ip6 daddr { ${allowed} } accept`,
    '    meta nfproto ipv6 counter name ipv6_dropped drop',
    '  }',
    '}',
    '',
  ].join('\n');
}

export class Ipv6Guard {
  constructor(private readonly branchPrefixes: readonly string[], private readonly nft: NftRunner = nftRunner) {}

  async start(): Promise<void> {
    await this.stop(); // a table left by a killed run
    await this.nft(['-f', '-'], renderIpv6Guard(this.branchPrefixes));
  }

  /** Packets dropped so far, or null when the table is not there. */
  async dropped(): Promise<number | null> {
    try {
      const doc = JSON.parse(await this.nft(['-j', 'list', 'counter', NFT_FAMILY, NFT_TABLE, 'ipv6_dropped'])) as { nftables?: { counter?: { packets?: number } }[] };
      return doc.nftables?.find((x) => x.counter)?.counter?.packets ?? null;
    } catch {
      return null;
    }
  }

  async stop(): Promise<void> {
    await this.nft(['delete', 'table', NFT_FAMILY, NFT_TABLE]).catch((err: Error) => {
      if (!/No such file|does not exist/i.test(err.message)) throw err;
    });
  }
}
