/** What every command writes to and reads from; tests pass buffers, the program process.*. */
export interface Out {
  write(s: string): unknown;
}
export interface CliIo {
  stdout: Out;
  stderr: Out;
  env?: NodeJS.ProcessEnv;
  /** Ends `monitor` (default: SIGINT/SIGTERM, or stdout going away). */
  signal?: AbortSignal;
}
