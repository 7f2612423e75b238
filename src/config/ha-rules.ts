/**
 * Rules of the ha: section that span keys or look outside the file (docs/ha.md "What must match"):
 * - the auth pass file is readable and holds 1–8 characters: VRRPv2's PASS authentication
 *   (RFC 2338 §5.3.6.1, kept by keepalived) is an 8-octet field; longer text would be cut;
 * - PASS authentication exists only in VRRPv2, which counts advertInterval in whole seconds
 *   (RFC 3768 §5.3.7), so a fractional interval needs authPassFile absent (VRRPv3, RFC 5798);
 * - the unicast peer is neither one of the virtual addresses nor this box's own LAN address;
 * - each virtual address lies inside a subnet of the interface, when the interface exists on the
 *   host that checks the file (a VRRP address outside it is unreachable from the LAN). That it is
 *   not already on the interface cannot be checked: on the master it is, and reload re-checks;
 * - a probe peer inside the LAN subnet shares the LAN's fate (a warning: split brain on a LAN
 *   partition is then invisible).
 * They read the raw document and skip values of the wrong type (the schema reports those).
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import { cidrContains, isIPv4, parseCidr } from './cidr.js';
import type { RawIssue } from './types.js';
import type { HaConfig } from './ha-schema.js';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Subnets (network/len) of an interface on this host, or undefined when it has none here. */
export type InterfaceSubnets = (name: string) => { address: string; prefix: number }[] | undefined;

export const hostSubnets: InterfaceSubnets = (name) => {
  const list = networkInterfaces()[name]?.filter((a) => a.family === 'IPv4');
  if (!list || list.length === 0) return undefined;
  return list.map((a) => ({ address: a.address, prefix: Number(a.cidr?.split('/')[1] ?? 32) }));
};

function subnetOf(address: string, prefix: number) {
  const c = parseCidr(`${address}/32`);
  if (!c.ok) return undefined;
  const net = new Uint8Array(c.value.address);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const u = ((net[0]! << 24) | (net[1]! << 16) | (net[2]! << 8) | net[3]!) & mask;
  return { address: new Uint8Array([u >>> 24, (u >>> 16) & 255, (u >>> 8) & 255, u & 255]), prefix };
}

/** The auth pass as keepalived gets it: the file's first line, trimmed. */
export function readAuthPass(file: string): string {
  return readFileSync(file, 'utf8').split('\n')[0]!.trim();
}

export function checkHaRules(raw: unknown, baseDir: string, subnets: InterfaceSubnets = hostSubnets): { issues: RawIssue[]; warnings: RawIssue[] } {
  const issues: RawIssue[] = [];
  const warnings: RawIssue[] = [];
  if (!isObj(raw) || !isObj(raw.ha)) return { issues, warnings };
  const ha = raw.ha;
  const at = (key: string | (string | number)[], message: string) => issues.push({ path: ['ha', ...(Array.isArray(key) ? key : [key])], message });
  const vips = Array.isArray(ha.virtualAddresses) ? ha.virtualAddresses : [];
  const vipAddr = (v: unknown) => (typeof v === 'string' ? v.split('/')[0]! : '');

  if (typeof ha.authPassFile === 'string') {
    const file = resolve(baseDir, ha.authPassFile);
    try {
      const pass = readAuthPass(file);
      if (pass.length === 0) at('authPassFile', `${file} is empty; write a password of 1-8 characters, or remove authPassFile for no authentication`);
      else if (pass.length > 8) at('authPassFile', `${file} holds ${pass.length} characters; VRRP PASS authentication carries at most 8 (RFC 2338 §5.3.6.1)`);
    } catch (e) {
      at('authPassFile', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (authPassFile is relative to the config file's directory)`);
    }
    const adv = ha.advertInterval;
    const n = typeof adv === 'number' ? adv : typeof adv === 'string' ? (/ms$/.test(adv) ? Number(adv.slice(0, -2)) / 1000 : Number(adv.replace(/s$/, ''))) : 1;
    if (Number.isFinite(n) && !Number.isInteger(n)) {
      at('advertInterval', 'with authPassFile VRRP runs as version 2, which counts advertInterval in whole seconds (RFC 3768 §5.3.7); use 1 or more, or drop authPassFile for sub-second VRRPv3');
    }
  }

  if (typeof ha.peer === 'string' && isIPv4(ha.peer)) {
    const i = vips.findIndex((v) => vipAddr(v) === ha.peer);
    if (i >= 0) at('peer', `the peer ${ha.peer} is virtual address ${i + 1}; peer is the other box's own LAN address`);
  }

  if (typeof ha.interface === 'string') {
    const nets = subnets(ha.interface);
    if (nets) {
      const own = new Set(nets.map((n) => n.address));
      if (typeof ha.peer === 'string' && own.has(ha.peer)) at('peer', `${ha.peer} is this box's own address on ${ha.interface}; peer is the other box's address`);
      vips.forEach((v, i) => {
        const a = vipAddr(v);
        if (!isIPv4(a)) return;
        if (!own.has(a) && !nets.some((n) => { const s = subnetOf(n.address, n.prefix); return s && cidrContains(s, a); })) {
          at(['virtualAddresses', i], `${a} is outside every subnet of ${ha.interface} (${nets.map((n) => `${n.address}/${n.prefix}`).join(', ')}); LAN hosts could not reach it`);
        }
      });
    }
  }

  const probePeer = isObj(ha.probe) && typeof ha.probe.peer === 'string' && isIPv4(ha.probe.peer) ? ha.probe.peer : undefined;
  if (probePeer !== undefined) {
    const lan = vips.flatMap((v) => {
      const m = typeof v === 'string' ? /^(.+)\/(\d+)$/.exec(v) : null;
      const net = m ? subnetOf(m[1]!, Number(m[2])) : undefined;
      return net ? [net] : [];
    });
    if (lan.some((net) => cidrContains(net, probePeer)) || probePeer === ha.peer) {
      warnings.push({ path: ['ha', 'probe', 'peer'], message: `${probePeer} is on the shared LAN; a LAN partition then cuts the probe too and split brain goes unseen. Use the peer's WAN or management address` });
    }
  }
  if (ha.peer === undefined) {
    warnings.push({ path: ['ha'], message: 'no ha.peer: VRRP adverts go to multicast 224.0.0.18; set peer to the other box\'s LAN address for unicast VRRP' });
  }
  return { issues, warnings };
}

/** The ha: section with paths resolved; runtimeDir defaults to "ha" next to the control socket. */
export function buildHa(h: Omit<HaConfig, 'runtimeDir'> & { runtimeDir?: string | undefined }, baseDir: string, controlSocket: string): HaConfig {
  const dir = h.runtimeDir ?? resolve(controlSocket, '..', 'ha');
  return { ...h, runtimeDir: resolve(baseDir, dir), ...(h.authPassFile !== undefined ? { authPassFile: resolve(baseDir, h.authPassFile) } : {}) };
}
