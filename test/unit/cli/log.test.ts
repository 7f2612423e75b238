import { describe, expect, it } from 'vitest';
import { createLogger, formatPretty, logAction, prettyStream, scrub, tunnelLogger } from '../../../src/log.js';
import { Secret } from '../../../src/secret.js';

class Sink {
  lines: string[] = [];
  write(s: string): void {
    for (const l of s.split('\n')) if (l) this.lines.push(l);
  }
  json(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

describe('logger', () => {
  it('writes JSON lines with level names and honours the configured level', () => {
    const sink = new Sink();
    const log = createLogger({ level: 'warn', stream: sink });
    log.info('hidden');
    log.warn({ a: 1 }, 'shown');
    expect(sink.json()).toEqual([expect.objectContaining({ level: 'warn', msg: 'shown', a: 1, time: expect.any(String) })]);
  });

  it('never prints a Secret or raw bytes, however deep, in fields or child bindings', () => {
    const sink = new Sink();
    const psk = Secret.fromString('s3cr3t-psk-value');
    const log = createLogger({ level: 'trace', stream: sink });
    log.info({ a: { b: { c: { psk, key: Buffer.from('s3cr3t-key-bytes') } } }, list: [psk] }, 'deep');
    tunnelLogger(log.child({ cfg: { psk } }), 'gsa').info('child');
    const all = sink.lines.join('\n');
    expect(all).not.toContain('s3cr3t');
    expect(all).not.toMatch(/"data":\[/); // Buffer.toJSON form
    expect(sink.json()[0]).toMatchObject({ a: { b: { c: { psk: '(hidden)', key: '(16 bytes)' } } }, list: ['(hidden)'] });
    expect(sink.json()[1]).toMatchObject({ tunnel: 'gsa', cfg: { psk: '(hidden)' } });
  });

  it('scrub survives cycles and depth', () => {
    const o: Record<string, unknown> = { x: 1 };
    o.self = o;
    expect(scrub(o)).toEqual({ x: 1, self: '(circular)' });
  });

  it('performs a log Action at its level with its fields, without clobbering core keys', () => {
    const sink = new Sink();
    const log = createLogger({ level: 'debug', stream: sink });
    logAction(log, { kind: 'log', level: 'debug', tunnel: 't1', msg: 'retransmit', fields: { msgId: 3, level: 'x', natT: true } });
    logAction(log, { kind: 'log', level: 'trace', msg: 'filtered out' });
    expect(sink.json()).toEqual([expect.objectContaining({
      level: 'debug', tunnel: 't1', msg: 'retransmit', msgId: 3, field_level: 'x', natT: true })]);
  });

  it('formats one readable line for a terminal', () => {
    const line = JSON.stringify({ level: 'warn', time: '2026-01-01T12:00:01.234Z', pid: 1, tunnel: 'gsa', msg: 'peer silent', dpd: 10, why: 'no reply' });
    expect(formatPretty(line)).toBe('12:00:01.234 WARN  [gsa] peer silent  dpd=10 why="no reply"\n');
    expect(formatPretty('not json')).toBe('not json\n');
    const out: string[] = [];
    const log = createLogger({ level: 'info', stream: prettyStream((s) => out.push(s)) });
    log.error({ err: new Error('bind failed') }, 'oops');
    expect(out[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} ERROR oops {2}err="bind failed"\n$/);
  });
});
