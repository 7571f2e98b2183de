/**
 * FUSE passthrough backing files (root only: FUSE_DEV_IOC_BACKING_OPEN
 * needs CAP_SYS_ADMIN). The kernel allows one backing file per inode at a
 * time, so a backing is shared by every open of that inode and closed with
 * the last one. An open that cannot share it (a writer while the backing is
 * read-only, or an inode whose object changed, e.g. after an overlay
 * copy-up) is answered with FOPEN_DIRECT_IO instead: mixing cached opens
 * with passthrough opens of one inode is refused by the kernel.
 */
import * as fs from 'node:fs';
import { FOpen } from './abi.js';
import { shim } from './native.js';

interface Backing {
  id: number;
  fd: number;
  refs: number;
  writable: boolean;
  /** what the backing file is (a host path or any identity the caller chooses) */
  source: string;
}

export interface BackedOpen {
  openFlags: number;
  backingId?: number;
}

export class BackingFiles {
  private byNode = new Map<number, Backing>();
  private fhNode = new Map<number, number>();

  constructor(private readonly devFd: number) {}

  /**
   * Attaches a backing for `fh` of node `nodeid`, whose file `openFile`
   * opens (with O_RDWR, else O_RDONLY; it throws when it cannot). `source`
   * names the object: an open of the node with another source is not shared.
   */
  open(nodeid: number, fh: number, openFile: (flags: number) => number, wantsWrite: boolean, source: string): BackedOpen {
    let b = this.byNode.get(nodeid);
    if (!b) {
      let bfd: number, writable = true;
      try { bfd = openFile(fs.constants.O_RDWR); } catch {
        writable = false;
        bfd = openFile(fs.constants.O_RDONLY);
      }
      const id = shim().backingOpen(this.devFd, bfd);
      if (id < 0) { fs.closeSync(bfd); return { openFlags: FOpen.DIRECT_IO }; }
      b = { id, fd: bfd, refs: 0, writable, source };
      this.byNode.set(nodeid, b);
    }
    if ((wantsWrite && !b.writable) || b.source !== source) return { openFlags: FOpen.DIRECT_IO };
    b.refs++;
    this.fhNode.set(fh, nodeid);
    return { openFlags: FOpen.PASSTHROUGH, backingId: b.id };
  }

  /** The open `fh` was released. */
  release(fh: number): void {
    const nodeid = this.fhNode.get(fh);
    if (nodeid === undefined) return;
    this.fhNode.delete(fh);
    const b = this.byNode.get(nodeid);
    if (!b || --b.refs > 0) return;
    shim().backingClose(this.devFd, b.id);
    fs.closeSync(b.fd);
    this.byNode.delete(nodeid);
  }

  has(nodeid: number): boolean {
    return this.byNode.has(nodeid);
  }
}
