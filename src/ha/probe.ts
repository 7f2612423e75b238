/**
 * The split-brain probe (docs/ha.md "Split brain"). Two masters cannot see each other's VRRP
 * adverts — that is what made them both master — so each box also tells the other its role
 * twice a second over UDP on another path (ha.probe.peer: the peer's WAN or management
 * address). A box that is master and hears, within the last 3 probe intervals, that the peer is
 * master too reports split brain.
 *
 * Wire format, 28 octets: "BGHA" | version 1 | VRID | role (0 unknown, 1 backup, 2 master,
 * 3 fault) | priority | sequence (u32, big endian) | first 16 octets of HMAC-SHA-256 over the
 * first 12 octets, keyed with the VRRP auth pass when one is set (else with "branchgate-ha").
 * Anything else — wrong size, magic, version, VRID, MAC, source — is a counted drop.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';

export type ProbeRole = 'unknown' | 'backup' | 'master' | 'fault';
const ROLES: readonly ProbeRole[] = ['unknown', 'backup', 'master', 'fault'];

export interface ProbeMessage {
  vrid: number;
  role: ProbeRole;
  priority: number;
  seq: number;
}

export type ProbeDrop = 'size' | 'magic' | 'version' | 'vrid' | 'mac' | 'source';
export const PROBE_LENGTH = 28;
const MAGIC = Buffer.from('BGHA');

function mac(key: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', key).update(body).digest().subarray(0, 16);
}

export function encodeProbe(m: ProbeMessage, key: Buffer): Buffer {
  const b = Buffer.alloc(PROBE_LENGTH);
  MAGIC.copy(b, 0);
  b[4] = 1;
  b[5] = m.vrid;
  b[6] = ROLES.indexOf(m.role);
  b[7] = m.priority;
  b.writeUInt32BE(m.seq >>> 0, 8);
  mac(key, b.subarray(0, 12)).copy(b, 12);
  return b;
}

export function decodeProbe(b: Uint8Array, key: Buffer, vrid: number): { ok: true; msg: ProbeMessage } | { ok: false; drop: ProbeDrop } {
  if (b.length !== PROBE_LENGTH) return { ok: false, drop: 'size' };
  const buf = Buffer.from(b.buffer, b.byteOffset, b.length);
  if (!buf.subarray(0, 4).equals(MAGIC)) return { ok: false, drop: 'magic' };
  if (buf[4] !== 1 || buf[6]! >= ROLES.length) return { ok: false, drop: 'version' };
  if (!timingSafeEqual(mac(key, buf.subarray(0, 12)), buf.subarray(12, 28))) return { ok: false, drop: 'mac' };
  if (buf[5] !== vrid) return { ok: false, drop: 'vrid' };
  return { ok: true, msg: { vrid: buf[5]!, role: ROLES[buf[6]!]!, priority: buf[7]!, seq: buf.readUInt32BE(8) } };
}

export interface ProbeOptions {
  peer: string;
  port: number;
  vrid: number;
  key: Buffer;
  intervalMs?: number;
  /** What to say each interval. */
  current(): { role: ProbeRole; priority: number };
  onPeer(m: ProbeMessage): void;
}

export class HaProbe {
  private sock: Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  readonly drops: Record<ProbeDrop, number> = { size: 0, magic: 0, version: 0, vrid: 0, mac: 0, source: 0 };
  received = 0;

  constructor(private readonly o: ProbeOptions) {}

  async start(): Promise<void> {
    const sock = createSocket({ type: 'udp4', reuseAddr: true });
    sock.on('message', (b, rinfo) => {
      if (rinfo.address !== this.o.peer) return void this.drops.source++;
      const r = decodeProbe(b, this.o.key, this.o.vrid);
      if (!r.ok) return void this.drops[r.drop]++;
      this.received++;
      this.o.onPeer(r.msg);
    });
    sock.on('error', () => undefined);
    await new Promise<void>((res, rej) => {
      sock.once('error', rej);
      sock.bind(this.o.port, () => res());
    });
    this.sock = sock;
    this.timer = setInterval(() => this.send(), this.o.intervalMs ?? 500);
    this.timer.unref();
    this.send();
  }

  send(): void {
    const c = this.o.current();
    this.sock?.send(encodeProbe({ vrid: this.o.vrid, role: c.role, priority: c.priority, seq: this.seq++ }, this.o.key), this.o.port, this.o.peer, () => undefined);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.sock?.close();
    this.sock = undefined;
  }
}
