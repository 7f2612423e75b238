/**
 * Framing of BIRD's control-socket replies (BIRD doc/reply_codes, and its client "birdc"):
 *
 *   DDDD-text   a line of reply code DDDD; more lines follow
 *   DDDD text   the last line of the reply (code DDDD)
 *    text       (leading space) a further line of the previous code
 *   +DDDD text  a spontaneous printout, not part of any reply
 *
 * Code classes: 0xxx done, 1xxx table entry, 2xxx table heading, 8xxx run-time error, 9xxx
 * parse error. The greeting "0001 BIRD 2.0.12 ready." is a reply of its own.
 *
 * Pure and bounded: a line longer than maxLine, or a reply larger than maxReplyBytes, is an
 * error (the connection is then useless and is closed). Lines that match none of the forms are
 * counted and skipped, never guessed at.
 */

export interface ReplyLine {
  code: number;
  /** The text after "DDDD-", "DDDD " or the continuation's leading space. */
  text: string;
}

export interface Reply {
  /** The code of the last line: 0–999 success, 8000–9999 errors. */
  code: number;
  lines: ReplyLine[];
}

export interface ReplyLimits {
  maxLine: number;
  maxReplyBytes: number;
}

export const DEFAULT_LIMITS: ReplyLimits = { maxLine: 64 * 1024, maxReplyBytes: 32 * 1024 * 1024 };

export class ReplyFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyFormatError';
  }
}

export const isError = (code: number): boolean => code >= 8000;

// "DDDD" alone is taken as a last line too: it can end nothing else.
const CODED = /^(\d{4})(?:([ -])(.*))?$/s;

export class ReplyReader {
  private buf = '';
  private lines: ReplyLine[] = [];
  private bytes = 0;
  private lastCode: number | undefined;
  /** Lines of no known form, skipped. */
  skipped = 0;

  constructor(private readonly limits: ReplyLimits = DEFAULT_LIMITS) {}

  /** Feed text; returns the replies it completed, in order. Throws ReplyFormatError past a limit. */
  push(chunk: string): Reply[] {
    this.buf += chunk;
    const done: Reply[] = [];
    for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      const r = this.line(line);
      if (r) done.push(r);
    }
    if (this.buf.length > this.limits.maxLine) throw new ReplyFormatError(`a reply line is longer than ${this.limits.maxLine} bytes`);
    return done;
  }

  /** True while a reply has started but not ended. */
  get pending(): boolean {
    return this.lines.length > 0 || this.buf.length > 0;
  }

  private line(line: string): Reply | undefined {
    if (line.length > this.limits.maxLine) throw new ReplyFormatError(`a reply line is longer than ${this.limits.maxLine} bytes`);
    if (line.startsWith('+')) return undefined; // spontaneous printout
    const m = CODED.exec(line);
    let entry: ReplyLine;
    let last = false;
    if (m) {
      entry = { code: Number(m[1]), text: m[3] ?? '' };
      last = m[2] !== '-';
    } else if (line.startsWith(' ') && this.lastCode !== undefined) {
      entry = { code: this.lastCode, text: line.slice(1) };
    } else {
      this.skipped++;
      return undefined;
    }
    this.bytes += line.length + 1;
    if (this.bytes > this.limits.maxReplyBytes) throw new ReplyFormatError(`a reply is larger than ${this.limits.maxReplyBytes} bytes`);
    this.lines.push(entry);
    this.lastCode = entry.code;
    if (!last) return undefined;
    const reply: Reply = { code: entry.code, lines: this.lines };
    this.lines = [];
    this.bytes = 0;
    this.lastCode = undefined;
    return reply;
  }
}

/** The text of a reply's lines, as birdc would print it (for error messages). */
export function replyText(r: Reply): string {
  return r.lines.map((l) => l.text).join('\n').trim();
}
