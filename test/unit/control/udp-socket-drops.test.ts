/**
 * The kernel's per-socket drop counter (/proc/net/udp `drops`) for our own UDP sockets.
 *
 * Parser: a /proc/net/udp captured on the build machine (Linux 6.18, x86-64) from a network
 * namespace holding three sockets, one of them flooded while its reader was busy (1997 drops);
 * then hostile variants (short lines, non-hex fields) that must be skipped, not guessed at.
 * Live: UdpTransport's own port-4500 socket on loopback, flooded from this process while the event
 * loop is blocked; the kernel's count must equal what was sent minus what UdpTransport received.
 */
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ownSocketInodes, parseProcNetUdp, readUdpSocketDrops } from '../../../src/control/udp-socket-drops.js';
import { UdpTransport } from '../../../src/net/udp.js';
import { side } from '../native/dp-helpers.js';

/** `cat /proc/net/udp` in a namespace with 192.0.2.1/32 on lo (captured 2026, kernel 6.18.44), trailing blanks kept. */
const CAPTURED = [
  '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            ',
  ' 2993: 010200C0:1194 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 70810 2 000000008495d20a 1997      ',
  '14493: 0100007F:BE80 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 70812 2 00000000f475d6ea 0         ',
  '15377: 010200C0:01F4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 70811 2 0000000025137240 0         ',
  '',
].join('\n');

const tmp: string[] = [];
const socks: dgram.Socket[] = [];
const transports: UdpTransport[] = [];
afterEach(async () => {
  for (const d of tmp.splice(0)) rmSync(d, { recursive: true, force: true });
  for (const s of socks.splice(0)) s.close();
  for (const t of transports.splice(0)) await t.close();
});

describe('/proc/net/udp', () => {
  it('parses the captured table: addresses in host byte order, hex ports, inode and drops', () => {
    expect(parseProcNetUdp(CAPTURED, true)).toEqual([
      { local: '192.0.2.1:4500', inode: 70810, rxQueue: 0, drops: 1997 },
      { local: '127.0.0.1:48768', inode: 70812, rxQueue: 0, drops: 0 },
      { local: '192.0.2.1:500', inode: 70811, rxQueue: 0, drops: 0 },
    ]);
    // A big-endian kernel prints the same address as 7F000001.
    const be = CAPTURED.replace('0100007F:BE80', '7F000001:BE80');
    expect(parseProcNetUdp(be, false)[1]!.local).toBe('127.0.0.1:48768');
  });

  it('skips lines it cannot read instead of guessing', () => {
    const hostile = [
      CAPTURED,
      ' 7: 010200C0:1194 00000000:0000 07',                                                           // truncated
      ' 8: 0102Z0C0:1194 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 5 2 0 3',     // not hex
      ' 9: 010200C0:11940 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 5 2 0 3',    // port > 16 bits
      '10: 010200C0:1194 00000000:0000 07 00000000:0000zz00 00:00000000 00000000 0 0 5 2 0 3',     // queue not hex
      '11: 010200C0:1194 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 x 2 0 3',     // inode
      '12: 010200C0:1194 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 5 2 0 -1',    // drops
      'garbage',
    ].join('\n');
    expect(parseProcNetUdp(hostile, true).map((r) => r.inode)).toEqual([70810, 70812, 70811]);
  });

  it('reports only sockets whose inode is one of our fds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-udpdrops-'));
    tmp.push(dir);
    writeFileSync(join(dir, 'udp'), CAPTURED);
    mkdirFd(dir, { 3: 'socket:[70810]', 4: 'pipe:[70812]', 5: '/dev/null', 6: 'socket:[99999]' });
    expect(ownSocketInodes(join(dir, 'fd'))).toEqual(new Set([70810, 99999]));
    expect(readUdpSocketDrops({ procNetUdp: join(dir, 'udp'), fdDir: join(dir, 'fd') }))
      .toEqual([{ socket: '192.0.2.1:4500', inode: 70810, drops: 1997, receiveQueue: 0 }]);
    expect(readUdpSocketDrops({ procNetUdp: join(dir, 'absent'), fdDir: join(dir, 'fd') })).toEqual([]);
  });

  it('live: UdpTransport\'s port-4500 socket flooded on loopback; the kernel count is what was sent minus what was read', async () => {
    const t = await UdpTransport.open({ addresses: ['127.0.0.1'], ports: { ike: 0, natT: 0 }, onIke: () => undefined });
    transports.push(t);
    const { ike, natT } = t.endpoints()[0]!;
    const flood = dgram.createSocket('udp4');
    socks.push(flood);
    await new Promise<void>((r) => flood.bind(0, '127.0.0.1', () => r()));
    const mine = (): { socket: string; drops: number }[] => readUdpSocketDrops().filter((s) => s.socket.startsWith('127.0.0.1:'));
    expect(mine().map((s) => s.socket).sort()).toEqual([`127.0.0.1:${flood.address().port}`, `127.0.0.1:${ike}`, `127.0.0.1:${natT}`].sort());
    // ESP-looking datagrams (non-zero first word; UdpTransport without onEsp counts them as espDropped).
    const N = 3000;
    const esp = Buffer.alloc(1000, 0x5a);
    let sendErrors = 0;
    let sent = 0;
    for (let i = 0; i < N; i++) flood.send(esp, natT, '127.0.0.1', (err) => (err ? sendErrors++ : sent++)); // the loop is blocked: nothing is read meanwhile
    // Drained: every send completed, nothing left in the socket's queue, nothing more read for a while.
    const queued = (): number => readUdpSocketDrops().find((x) => x.socket === `127.0.0.1:${natT}`)!.receiveQueue;
    for (let i = 0, last = -1; i < 200; i++) {
      if (sent + sendErrors === N && queued() === 0 && t.counters.espDropped === last) break;
      last = t.counters.espDropped;
      await new Promise((r) => setTimeout(r, 20));
    }
    const received = t.counters.espDropped;
    const row = mine().find((s) => s.socket === `127.0.0.1:${natT}`)!;
    expect(row.drops, `${sent} sent, ${received} read`).toBeGreaterThan(0);
    expect(row.drops).toBe(sent - received);
    expect(mine().find((s) => s.socket === `127.0.0.1:${ike}`)!.drops).toBe(0);
  });
});

/** A stand-in for /proc/self/fd: symlinks whose targets read like the kernel's. */
function mkdirFd(dir: string, links: Record<number, string>): void {
  const fd = join(dir, 'fd');
  mkdirSync(fd);
  for (const [n, target] of Object.entries(links)) symlinkSync(target, join(fd, n));
}

describe('/proc/net/udp with the native engine', () => {
  it('lists the engine\'s SO_REUSEPORT socket next to UdpTransport\'s on the same port-4500 address', async () => {
    const s = await side();
    try {
      const rows = readUdpSocketDrops().filter((r) => r.socket === `127.0.0.1:${s.port}`);
      // Steered: the engine's own socket joined the group (two rows); send-only: a dup of UdpTransport's (one socket, one row).
      expect(rows.length).toBe(s.dp.sockets[0]!.mode === 'steered' ? 2 : 1);
      expect(new Set(rows.map((r) => r.inode)).size).toBe(rows.length);
    } finally {
      await s.close();
    }
  });
});
