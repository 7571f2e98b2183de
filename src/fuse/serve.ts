/**
 * mount + session in one call: what a Node program embedding a filesystem
 * uses. The returned handle unmounts (asynchronously, the loop keeps
 * serving meanwhile) and resolves `closed` once the kernel let go.
 */
import * as fs from 'node:fs';
import type { FileSystem } from './api.js';
import { mount, unmount, type Mounted, type MountOptions } from './mount.js';
import { Session, type SessionOptions } from './session.js';

export interface Served {
  session: Session;
  mounted: Mounted;
  mountpoint: string;
  /** unmount and wait for the session to end */
  unmount(opts?: { lazy?: boolean }): Promise<void>;
  closed: Promise<void>;
}

export async function serve(fsys: FileSystem, mountpoint: string, opts: { mount?: MountOptions; session?: SessionOptions } = {}): Promise<Served> {
  const mounted = await mount(mountpoint, opts.mount);
  const session = new Session(mounted.fd, fsys, opts.session).start();
  session.closed.then(() => {
    if (mounted.commFd !== undefined) try { fs.closeSync(mounted.commFd); } catch { /* closed */ }
  });
  try {
    await session.ready;
  } catch (e) {
    // unmounted by someone before the kernel even sent INIT: a mount that came and went, not a failure
    if (session.endReason === 'unmounted' || session.endReason === 'disconnected') {
      return { session, mounted, mountpoint: mounted.mountpoint, closed: session.closed, unmount: async () => {} };
    }
    session.close();
    await unmount(mounted.mountpoint, { lazy: true }).catch(() => {});
    throw e;
  }
  return {
    session, mounted, mountpoint: mounted.mountpoint, closed: session.closed,
    async unmount(o = {}) {
      if (session.isEnded) return;
      await unmount(mounted.mountpoint, o);
      await session.closed;
    },
  };
}
