/**
 * The ha: section (docs/ha.md "Config"): a pair of CPEs sharing one LAN gateway address through
 * VRRP, carried out by keepalived (src/ha/). Only the shape and per-value checks live here;
 * rules across keys and the auth pass file are in ha-rules.ts.
 *
 * advertInterval is in seconds and may be a fraction: VRRPv3 (RFC 5798 §5.2.7) carries it in
 * centiseconds (12 bits: 0.01–40.95 s). VRRPv2 (RFC 3768 §5.3.7) has whole seconds only, and only
 * VRRPv2 has the (plain text) authentication keepalived offers, so authPassFile needs a whole
 * advertInterval (ha-rules.ts).
 */
import { z } from 'zod';
import { isIPv4 } from './cidr.js';

const IFNAME = /^(?!\.\.?$)[a-zA-Z0-9_.-]{1,15}$/;

/** "A.B.C.D/LEN" or a bare address (then /32), the form keepalived's virtual_ipaddress takes. */
const virtualAddress = z.string().transform((v, ctx) => {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?$/.exec(v.trim());
  const len = m?.[2] === undefined ? 32 : Number(m[2]);
  if (!m || !isIPv4(m[1]!) || len < 1 || len > 32) {
    ctx.addIssue({ code: 'custom', message: 'a virtual address is an IPv4 address with its prefix length, e.g. 100.64.10.1/24', input: v });
    return z.NEVER;
  }
  return `${m[1]}/${len}`;
});

const ipv4 = z.string().refine(isIPv4, { error: 'expected an IPv4 address such as 192.0.2.10' });

/** Seconds as a number (0.1) or text ("100ms", "1s"); 0.01–40.95 (RFC 5798 §5.2.7). */
const advertInterval = z.union([z.number(), z.string()]).transform((v, ctx) => {
  let s: number | undefined;
  if (typeof v === 'number') s = v;
  else {
    const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v.trim());
    if (m) s = m[2] === 'ms' ? Number(m[1]) / 1000 : Number(m[1]);
  }
  if (s === undefined || !Number.isFinite(s) || s < 0.01 || s > 40.95 || Math.abs(s * 100 - Math.round(s * 100)) > 1e-9) {
    ctx.addIssue({ code: 'custom', message: 'advertInterval is 0.01..40.95 seconds in steps of 0.01 (RFC 5798 §5.2.7), e.g. 1, 0.2 or "200ms"', input: v });
    return z.NEVER;
  }
  return Math.round(s * 100) / 100;
});

/** A path that lands in keepalived.conf or on its command line: no quotes, no control characters. */
const path = z.string().min(1).max(4096).regex(/^[^"'\\\s\x00-\x1f]+$/, { error: 'a path without quotes, spaces, backslashes or control characters' });

export const HaProbeShape = {
  /** The other box's address on a path that is not the shared LAN (its WAN or a management link). */
  peer: ipv4,
  port: z.number().int().min(1).max(65535).default(5406),
};

export const HaShape = {
  interface: z.string().regex(IFNAME, { error: 'interface names are 1-15 letters, digits, ".", "-" or "_"' }),
  virtualAddresses: z.array(virtualAddress).min(1).max(20),
  routerId: z.number().int().min(1).max(255),
  priority: z.number().int().min(1).max(254),
  /** The other box's address on the LAN: unicast VRRP. Absent: multicast to 224.0.0.18. */
  peer: ipv4.optional(),
  /** A file holding the VRRP (v2) PASS authentication, at most 8 characters. Absent: none. */
  authPassFile: path.optional(),
  advertInterval: advertInterval.default(1),
  preempt: z.boolean().default(true),
  /** Split-brain probe over another path (docs/ha.md "Split brain"). */
  probe: z.strictObject(HaProbeShape).optional(),
  /** Where keepalived.conf, the track file, the FIFO and pid files go (default: next to the control socket). */
  runtimeDir: path.optional(),
  /** keepalived binary. */
  keepalived: path.default('/usr/sbin/keepalived'),
};

export interface HaConfig {
  interface: string;
  virtualAddresses: string[];
  routerId: number;
  priority: number;
  peer?: string;
  /** Absolute (resolved against the config file's directory). */
  authPassFile?: string;
  advertInterval: number;
  preempt: boolean;
  probe?: { peer: string; port: number };
  runtimeDir: string;
  keepalived: string;
}
