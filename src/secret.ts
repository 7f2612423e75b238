import { inspect } from 'node:util';

const HIDDEN = '(hidden)';

/**
 * A value that must never be printed: PSKs and key material (docs/architecture.md, rule 7). Logs, status
 * output, JSON and errors see "(hidden)"; only code that calls reveal() gets the bytes.
 */
export class Secret {
  #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  static fromString(s: string): Secret {
    return new Secret(new Uint8Array(Buffer.from(s, 'utf8')));
  }

  reveal(): Uint8Array {
    return this.#bytes;
  }

  get length(): number {
    return this.#bytes.length;
  }

  /** Overwrite the bytes; the runtime may still hold copies, so this is best effort. */
  wipe(): void {
    this.#bytes.fill(0);
  }

  toString(): string {
    return HIDDEN;
  }

  toJSON(): string {
    return HIDDEN;
  }

  [inspect.custom](): string {
    return HIDDEN;
  }
}
