/**
 * spawn() with node:child_process loaded on first use: a background mount
 * as root never starts a process, and loading the module costs ~2 ms of
 * every mount's startup otherwise.
 */
import type * as ChildProcess from 'node:child_process';
import { createRequire } from 'node:module';

let loaded: typeof ChildProcess | undefined;

export const spawn = ((...args: unknown[]) => {
  loaded ??= createRequire(import.meta.url)('node:child_process') as typeof ChildProcess;
  return (loaded.spawn as (...a: unknown[]) => ChildProcess.ChildProcess)(...args);
}) as typeof ChildProcess.spawn;
