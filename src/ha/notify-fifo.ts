/**
 * keepalived's `vrrp_notify_fifo`: one line per state change, e.g.
 *   INSTANCE "bg_vrid_51" MASTER 100
 * (keepalived.conf(5), "notify_fifo"). We create the FIFO (0600, in our 0700 runtime dir) and
 * hold it open read-write, so it never reads EOF while keepalived restarts and keepalived never
 * blocks opening it. Lines are bounded (512 bytes); anything else is counted and ignored.
 */
import { execFile } from 'node:child_process';
import { closeSync, constants, existsSync, lstatSync, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { promisify } from 'node:util';

export type VrrpState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP';

export interface NotifyLine {
  instance: string;
  state: VrrpState;
  priority: number;
}

const LINE = /^INSTANCE "([A-Za-z0-9_.-]{1,64})" (MASTER|BACKUP|FAULT|STOP|DELETED) (\d{1,3})$/;

/** One FIFO line, or null when it is not an instance state line (group lines, junk). */
export function parseNotifyLine(line: string): NotifyLine | null {
  const m = LINE.exec(line.trim());
  if (!m) return null;
  const priority = Number(m[3]);
  if (priority > 255) return null;
  return { instance: m[1]!, state: m[2] === 'DELETED' ? 'STOP' : (m[2] as VrrpState), priority };
}

const MAX_LINE = 512;

export class NotifyFifo {
  private sock: Socket | undefined;
  private buf = '';
  ignored = 0;

  constructor(private readonly path: string, private readonly onLine: (l: NotifyLine) => void) {}

  async open(): Promise<void> {
    if (existsSync(this.path) && !lstatSync(this.path).isFIFO()) rmSync(this.path);
    if (!existsSync(this.path)) await promisify(execFile)('mkfifo', ['-m', '600', this.path]);
    const fd = openSync(this.path, constants.O_RDWR | constants.O_NONBLOCK);
    try {
      this.sock = new Socket({ fd, readable: true, writable: false });
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    this.sock.setEncoding('utf8');
    this.sock.on('data', (chunk: string) => this.feed(chunk));
    this.sock.on('error', () => undefined);
  }

  private feed(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const l = line.length <= MAX_LINE ? parseNotifyLine(line) : null;
      if (l) this.onLine(l);
      else this.ignored++;
    }
    if (this.buf.length > MAX_LINE) {
      this.buf = '';
      this.ignored++;
    }
  }

  close(): void {
    this.sock?.destroy();
    this.sock = undefined;
    rmSync(this.path, { force: true });
  }
}
