/**
 * `branchgate lab up|down|status`: the namespace lab (issue 5). cli.ts hands every `lab`
 * argument list here unparsed; this module owns its options, output and exit status.
 */
import type { CliIo } from '../cli.js';

export async function labMain(args: string[], io: CliIo): Promise<number> {
  io.stderr.write(`branchgate: 'lab ${args.join(' ')}' is not available yet in this version — see shared/reference/strongswan-lab.md for a manual lab\n`);
  return 2;
}
