/**
 * strongSwan as an emulated GSA endpoint (docs/testing.md): strongswan.conf
 * for a charon that uses the kernel-libipsec userspace datapath (the build machine's kernel has
 * no ESP/GCM) and a vici socket in the lab directory, and swanctl.conf for one GSA-like
 * connection. Product code for `branchgate lab`; the test harness has its own copy
 * (test/interop/lab/strongswan.ts) that may later import this one.
 *
 * GSA-like means (docs/gsa-reference.md §1–§3): responder only (start_action none), PSK,
 * GSA's Default IKE/ESP table, ID_IPV4_ADDR = its public address, no MOBIKE. Its own traffic
 * selector is 0.0.0.0/0 (any-to-any, as GSA), but remote_ts names only the branch LAN and the
 * CPE's BGP address: with remote_ts 0.0.0.0/0 kernel-libipsec installs a default route into
 * ipsec0 (table 220) that would capture the endpoint's own LAN.
 */
import { existsSync } from 'node:fs';
import { GSA_DEFAULT_PHASE1, GSA_DEFAULT_PHASE2 } from '../config/profiles.js';

export const CHARON_CANDIDATES = ['/usr/lib/ipsec/charon', '/usr/sbin/charon-systemd'];

export function charonBinary(): string | undefined {
  return CHARON_CANDIDATES.find((p) => existsSync(p));
}

export const GSA_DEFAULT_IKE: readonly string[] = GSA_DEFAULT_PHASE1.map((r) => r.proposal);
export const GSA_DEFAULT_ESP: readonly string[] = GSA_DEFAULT_PHASE2.map((r) => r.proposal);

export interface EndpointConn {
  name: string;
  localAddress: string;
  /** The CPE's address as seen here ('%any' behind NAT). */
  remoteAddress: string;
  localId: string;
  remoteId: string;
  psk: string;
  proposals?: readonly string[];
  espProposals?: readonly string[];
  localTs: readonly string[];
  remoteTs: readonly string[];
  /** Seconds; 0 disables (GSA's own DPD timers are undocumented, gsa.md §3). */
  dpd?: number;
}

const SAFE_VALUE = /^[A-Za-z0-9%._:/@=-]+$/;

function safe(v: string, what: string): string {
  if (!SAFE_VALUE.test(v)) throw new Error(`strongswan: ${what} ${JSON.stringify(v)} contains characters swanctl.conf cannot take unquoted`);
  return v;
}

export function strongswanConf(p: { logPath: string; vici: string }): string {
  return [
    'charon {',
    '  load = random nonce openssl aes sha2 hmac gcm curve25519 kdf pem pkcs1 x509 pubkey socket-default kernel-libipsec kernel-netlink vici updown',
    '  retransmit_timeout = 1.0',
    '  retransmit_base = 1.4',
    '  retransmit_tries = 3',
    '  filelog {',
    '    lab {',
    `      path = ${safe(p.logPath, 'log path')}`,
    '      flush_line = yes',
    '      default = 1',
    '      ike = 2',
    '    }',
    '  }',
    '  plugins {',
    '    vici {',
    `      socket = unix://${safe(p.vici, 'vici path')}`,
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** One connection per endpoint; each `key = value` on its own line (swanctl.conf's rule). */
export function swanctlConf(conns: readonly EndpointConn[]): string {
  const o: string[] = ['connections {'];
  for (const c of conns) {
    o.push(
      `  ${safe(c.name, 'name')} {`, '    version = 2',
      `    local_addrs = ${safe(c.localAddress, 'localAddress')}`, `    remote_addrs = ${safe(c.remoteAddress, 'remoteAddress')}`,
      `    proposals = ${(c.proposals ?? GSA_DEFAULT_IKE).map((p) => safe(p, 'proposal')).join(', ')}`,
      '    mobike = no', '    encap = no',
      ...(c.dpd ? [`    dpd_delay = ${c.dpd}s`] : []),
      '    local {', '      auth = psk', `      id = ${safe(c.localId, 'localId')}`, '    }',
      '    remote {', '      auth = psk', `      id = ${safe(c.remoteId, 'remoteId')}`, '    }',
      '    children {', '      net {',
      `        local_ts = ${c.localTs.map((t) => safe(t, 'localTs')).join(', ')}`,
      `        remote_ts = ${c.remoteTs.map((t) => safe(t, 'remoteTs')).join(', ')}`,
      `        esp_proposals = ${(c.espProposals ?? GSA_DEFAULT_ESP).map((p) => safe(p, 'esp proposal')).join(', ')}`,
      '        start_action = none', '        dpd_action = clear',
      '      }', '    }', '  }',
    );
  }
  o.push('}', '', 'secrets {');
  conns.forEach((c, i) => {
    o.push(`  ike-${i} {`, `    id-local = ${c.localId}`, `    id-remote = ${c.remoteId}`,
      `    secret = "${c.psk.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`, '  }');
  });
  o.push('}', '');
  return o.join('\n');
}

/**
 * The argv that runs charon in `ns` with a private /run and this lab's config bind-mounted over
 * /etc/strongswan.conf and /etc/swanctl (one charon per namespace, strongswan-lab.md).
 */
export function charonArgv(ns: string, dir: string, bin: string): string[] {
  const script = 'mount -t tmpfs none /run && mount --bind "$1/strongswan.conf" /etc/strongswan.conf && ' +
    'mount --bind "$1/swanctl" /etc/swanctl && exec "$2"';
  return ['ip', 'netns', 'exec', ns, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh', dir, bin];
}
