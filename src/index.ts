/** tsfuse: the public library API. */
export * from './fuse/abi.js';
export * from './fuse/api.js';
export * from './fuse/codec.js';
export * from './fuse/errors.js';
export * from './fuse/types.js';
export { attrFromStats, statxFromStats, dtype } from './fuse/attr.js';
export { Session, type SessionOptions } from './fuse/session.js';
export { mount, unmount, checkMountpoint, MountError, type MountOptions, type Mounted } from './fuse/mount.js';
export { serve, type Served } from './fuse/serve.js';
export { MemFS } from './examples/memfs.js';
export { LoopbackFS, type LoopbackOptions } from './examples/loopback.js';
export { VERSION } from './version.js';
