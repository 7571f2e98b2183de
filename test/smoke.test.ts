import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mountCli, mountType, tempDir } from './helpers.js';

describe('smoke', () => {
  it('mounts memfs, writes and reads a file, unmounts, daemon exits', () => {
    const mnt = tempDir();
    const m = mountCli('memfs', [], mnt);
    expect(mountType(mnt)).toBe('fuse.memfs');
    fs.writeFileSync(join(mnt, 'hello'), 'world');
    expect(fs.readFileSync(join(mnt, 'hello'), 'utf8')).toBe('world');
    m.unmount();
    expect(mountType(mnt)).toBeUndefined();
  });
});
