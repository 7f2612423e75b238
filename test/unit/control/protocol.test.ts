import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeLine, LineSplitter, MAX_LINE, parseResponse, parseStreamLine } from '../../../src/control/protocol.js';
import { parseRequest } from '../../../src/control/request-schema.js';

describe('control protocol', () => {
  it('accepts well-formed requests', () => {
    expect(parseRequest('{"id":7,"cmd":"status"}')).toEqual({ ok: true, request: { id: 7, cmd: 'status' } });
    expect(parseRequest('{"id":1,"cmd":"up","args":{"name":"gsa"}}')).toEqual({
      ok: true, request: { id: 1, cmd: 'up', args: { name: 'gsa' } },
    });
  });

  it('answers junk with an error that says what to send', () => {
    const r = parseRequest('hello');
    expect(r).toMatchObject({ ok: false, response: { id: null, ok: false, code: 'bad-request' } });
    if (!r.ok && !r.response.ok) expect(r.response.error).toMatch(/one \{"id":N,"cmd":"\.\.\."\} object per line/);
  });

  it('names unknown commands and keeps the id', () => {
    const r = parseRequest('{"id":3,"cmd":"reboot"}');
    expect(r).toMatchObject({ ok: false, response: { id: 3, code: 'bad-request' } });
    if (!r.ok && !r.response.ok) expect(r.response.error).toContain("unknown command 'reboot'; known: status, list-sas");
  });

  it('requires a tunnel name for up/down and rejects unknown args', () => {
    expect(parseRequest('{"id":1,"cmd":"down"}')).toMatchObject({ ok: false, response: { id: 1 } });
    expect(parseRequest('{"id":1,"cmd":"status","args":{"x":1}}')).toMatchObject({ ok: false });
    expect(parseRequest('{"id":-1,"cmd":"status"}')).toMatchObject({ ok: false, response: { id: -1 } }); // echoed so the client can match it
    expect(parseRequest('{"id":1.5,"cmd":"status"}')).toMatchObject({ ok: false, response: { id: null } });
  });

  it('rekey needs a name and takes ike and a bounded wait; monitor takes nothing', () => {
    expect(parseRequest('{"id":1,"cmd":"rekey","args":{"name":"gw","ike":true,"wait":30}}')).toEqual({
      ok: true, request: { id: 1, cmd: 'rekey', args: { name: 'gw', ike: true, wait: 30 } } });
    expect(parseRequest('{"id":1,"cmd":"rekey"}')).toMatchObject({ ok: false, response: { code: 'bad-request' } });
    expect(parseRequest('{"id":1,"cmd":"rekey","args":{"name":"gw","wait":0}}')).toMatchObject({ ok: false });
    expect(parseRequest('{"id":1,"cmd":"rekey","args":{"name":"gw","wait":601}}')).toMatchObject({ ok: false });
    expect(parseRequest('{"id":1,"cmd":"rekey","args":{"name":"gw","ike":"yes"}}')).toMatchObject({ ok: false });
    expect(parseRequest('{"id":2,"cmd":"monitor"}')).toEqual({ ok: true, request: { id: 2, cmd: 'monitor' } });
  });

  it('tells event lines from responses in a subscription', () => {
    const ev = { time: '2026-01-01T00:00:00.000Z', source: 'ike' as const, type: 'dpd-dead', tunnel: 'gw', silentMs: 5 };
    expect(parseStreamLine(encodeLine({ id: 4, event: ev }))).toEqual({ kind: 'event', line: { id: 4, event: ev } });
    expect(parseStreamLine('{"id":4,"ok":true,"result":{"subscribed":true}}')).toEqual({
      kind: 'response', response: { id: 4, ok: true, result: { subscribed: true } } });
    expect(parseStreamLine('{"id":4,"event":{"no":"type"}}')).toBeNull();
    expect(parseStreamLine('{"id":4,"event":[1]}')).toBeNull();
    expect(parseStreamLine('nope')).toBeNull();
  });

  it('never throws on arbitrary input', () => {
    fc.assert(fc.property(fc.string(), (s) => {
      const r = parseRequest(s);
      expect(typeof r.ok).toBe('boolean');
    }));
    fc.assert(fc.property(fc.json(), (s) => {
      parseRequest(s);
      parseResponse(s);
      parseStreamLine(s);
    }));
  });

  it('parses responses and maps unknown codes to failed', () => {
    expect(parseResponse('{"id":1,"ok":true,"result":{"a":1}}')).toEqual({ id: 1, ok: true, result: { a: 1 } });
    expect(parseResponse('{"id":1,"ok":false,"error":"x","code":"weird"}')).toEqual({ id: 1, ok: false, error: 'x', code: 'failed' });
    expect(parseResponse('[1]')).toBeNull();
  });

  it('splits lines across chunks, including a split multi-byte character', () => {
    const s = new LineSplitter();
    const bytes = Buffer.from('{"a":"é"}\n{"b":2}\n');
    const cut = bytes.indexOf(0xa9); // second byte of é
    expect(s.push(bytes.subarray(0, cut))).toEqual([]);
    expect(s.push(bytes.subarray(cut))).toEqual(['{"a":"é"}', '{"b":2}']);
  });

  it('reports overflow once a line exceeds the cap', () => {
    const s = new LineSplitter(16);
    expect(s.push(Buffer.from('0123456789'))).toEqual([]);
    expect(s.push(Buffer.from('0123456789'))).toBe('overflow');
    expect(new LineSplitter().max).toBe(MAX_LINE);
    expect(new LineSplitter(4).push(Buffer.from('123456\n'))).toBe('overflow');
  });
});
