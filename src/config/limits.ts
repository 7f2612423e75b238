/**
 * Bounds on what the operator hands us (docs/cli.md "Bounds"). A config is a few KB; 1 MiB is
 * far beyond any real one and keeps a wrong path (a log, an image) from being parsed at all.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Shorter PSKs are refused: guessable, and the log redactor (log-redact.ts) matches from 6 octets. */
export const MIN_PSK_BYTES = 8;
/** Shorter PSKs get a warning (RFC 7296 §2.15: a PSK should be as strong as the PRF's key). */
export const WARN_PSK_BYTES = 20;
