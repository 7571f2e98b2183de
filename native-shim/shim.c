/*
 * tsfuse native shim: only what Node cannot do by itself.
 *   - receive the /dev/fuse fd from fusermount3 (socketpair + SCM_RIGHTS)
 *   - l{get,set,list,remove}xattr, renameat2 with flags, and the calls fs
 *     lacks: utimensat with nanoseconds/UTIME_OMIT, fallocate, lseek
 *     (SEEK_DATA/SEEK_HOLE); all of them relative to a directory fd
 *   - the FUSE device ioctls (CLONE, BACKING_OPEN, BACKING_CLOSE)
 *   - readiness of the /dev/fuse fd on the libuv loop, and a read that
 *     reports EAGAIN as a number instead of a thrown exception
 *   - the *at calls (paths relative to a layer's root fd): Node has none,
 *     and a path through /proc/self/fd/N costs a procfs walk every call
 *   - mount(2) as root (no mount(8) process per mount) and setsid() for a
 *     daemon started straight in the background
 *   - which threads are libuv's pool, and a per-thread nice value (V8's
 *     helper threads yield to the thread that answers the kernel)
 * No protocol logic lives here. Every call returns a number; a negative
 * number is -errno.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

#define FUSE_DEV_IOC_CLONE _IOR(229, 0, uint32_t)
struct fuse_backing_map { int32_t fd; uint32_t flags; uint64_t padding; };
#define FUSE_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct fuse_backing_map)
#define FUSE_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, #call " failed"); return NULL; } } while (0)

static napi_value num(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

static int64_t arg_int(napi_env env, napi_value v) {
  int64_t r = 0;
  napi_get_value_int64(env, v, &r);
  return r;
}

/* Copies a JS string argument into a malloc'd C string (caller frees). */
static char *arg_str(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static void *arg_buf(napi_env env, napi_value v, size_t *len) {
  void *data = NULL;
  *len = 0;
  if (napi_get_buffer_info(env, v, &data, len) != napi_ok) return NULL;
  return data;
}

#define ARGS(n) size_t argc = n; napi_value argv[n]; CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL)); \
  if (argc < n) { napi_throw_type_error(env, NULL, "tsfuse shim: too few arguments"); return NULL; }

#define RET(expr) do { long _r = (long)(expr); return num(env, _r < 0 ? -errno : (double)_r); } while (0)

/* socketpair() -> [a, b] or -errno */
static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) return num(env, -errno);
  napi_value arr;
  CHECK(napi_create_array_with_length(env, 2, &arr));
  napi_set_element(env, arr, 0, num(env, fds[0]));
  napi_set_element(env, arr, 1, num(env, fds[1]));
  return arr;
}

/* recvFd(sock) -> received fd, or -errno; 0 bytes (EOF) gives -ECONNRESET */
static napi_value js_recv_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  int sock = (int)arg_int(env, argv[0]);
  char byte;
  struct iovec iov = { &byte, 1 };
  char ctl[CMSG_SPACE(sizeof(int))];
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof ctl;
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  if (n < 0) return num(env, -errno);
  if (n == 0) return num(env, -ECONNRESET);
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) return num(env, -EPROTO);
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return num(env, fd);
}

/*
 * The *at calls, relative to a directory fd (a layer root opened once):
 * Node has none, and a path through /proc/self/fd/N costs a procfs walk on
 * every call. dirfd may be AT_FDCWD (-100) for a plain path.
 */
#define PATH_ARG(var, v) char var[4097]; do { size_t _n = 0; \
  if (napi_get_value_string_utf8(env, v, var, sizeof var, &_n) != napi_ok) return num(env, -EINVAL); \
  if (_n >= sizeof var - 1) return num(env, -ENAMETOOLONG); } while (0)
#define FD_ARG(v) ((int)arg_int(env, v))

/* openat(dirfd, path, flags, mode) -> fd (close-on-exec) */
static napi_value js_openat(napi_env env, napi_callback_info info) {
  ARGS(4); PATH_ARG(p, argv[1]);
  RET(openat(FD_ARG(argv[0]), p, (int)arg_int(env, argv[2]) | O_CLOEXEC, (mode_t)arg_int(env, argv[3])));
}

static napi_value js_mkdirat(napi_env env, napi_callback_info info) {
  ARGS(3); PATH_ARG(p, argv[1]);
  RET(mkdirat(FD_ARG(argv[0]), p, (mode_t)arg_int(env, argv[2])));
}

/* unlinkat(dirfd, path, flags): AT_REMOVEDIR (0x200) for a directory */
static napi_value js_unlinkat(napi_env env, napi_callback_info info) {
  ARGS(3); PATH_ARG(p, argv[1]);
  RET(unlinkat(FD_ARG(argv[0]), p, (int)arg_int(env, argv[2])));
}

static napi_value js_fchmodat(napi_env env, napi_callback_info info) {
  ARGS(3); PATH_ARG(p, argv[1]);
  RET(fchmodat(FD_ARG(argv[0]), p, (mode_t)arg_int(env, argv[2]), 0));
}

/* fchownat(dirfd, path, uid, gid) never follows a final symlink; -1 keeps an id */
static napi_value js_fchownat(napi_env env, napi_callback_info info) {
  ARGS(4); PATH_ARG(p, argv[1]);
  RET(fchownat(FD_ARG(argv[0]), p, (uid_t)arg_int(env, argv[2]), (gid_t)arg_int(env, argv[3]), AT_SYMLINK_NOFOLLOW));
}

static napi_value js_mknodat(napi_env env, napi_callback_info info) {
  ARGS(4); PATH_ARG(p, argv[1]);
  RET(mknodat(FD_ARG(argv[0]), p, (mode_t)arg_int(env, argv[2]), (dev_t)arg_int(env, argv[3])));
}

/* symlinkat(target string or Buffer, dirfd, path) */
static napi_value js_symlinkat(napi_env env, napi_callback_info info) {
  ARGS(3); PATH_ARG(p, argv[2]);
  char target[4097];
  bool isbuf = false;
  napi_is_buffer(env, argv[0], &isbuf);
  if (isbuf) {
    size_t len; void *d = arg_buf(env, argv[0], &len);
    if (len >= sizeof target) return num(env, -ENAMETOOLONG);
    memcpy(target, d, len); target[len] = 0;
  } else {
    size_t n = 0;
    if (napi_get_value_string_utf8(env, argv[0], target, sizeof target, &n) != napi_ok) return num(env, -EINVAL);
    if (n >= sizeof target - 1) return num(env, -ENAMETOOLONG);
  }
  RET(symlinkat(target, FD_ARG(argv[1]), p));
}

/* readlinkat(dirfd, path, buf): the target's length (at most buf's), or -errno */
static napi_value js_readlinkat(napi_env env, napi_callback_info info) {
  ARGS(3); PATH_ARG(p, argv[1]);
  size_t len; void *d = arg_buf(env, argv[2], &len);
  RET(readlinkat(FD_ARG(argv[0]), p, d, len));
}

/* linkat(olddirfd, old, newdirfd, new): never follows a final symlink */
static napi_value js_linkat(napi_env env, napi_callback_info info) {
  ARGS(4); PATH_ARG(a, argv[1]); PATH_ARG(b, argv[3]);
  RET(linkat(FD_ARG(argv[0]), a, FD_ARG(argv[2]), b, 0));
}

/* renameat(olddirfd, old, newdirfd, new, flags): renameat2 with RENAME_NOREPLACE / RENAME_EXCHANGE */
static napi_value js_renameat(napi_env env, napi_callback_info info) {
  ARGS(5); PATH_ARG(a, argv[1]); PATH_ARG(b, argv[3]);
  RET(syscall(SYS_renameat2, FD_ARG(argv[0]), a, FD_ARG(argv[2]), b, (unsigned)arg_int(env, argv[4])));
}

/*
 * xattrs relative to a directory fd, never following a final symlink:
 * {get,list,set,remove}xattrat (Linux 6.13). Where the kernel (or a seccomp
 * filter) refuses them, the l*xattr call on /proc/self/fd/N/path instead.
 */
struct xattr_args_v0 { uint64_t value; uint32_t size; uint32_t flags; };
/* the numbers are the same on x86_64 and the generic table (arm64, riscv); older headers lack them */
#if defined(__x86_64__) || defined(__aarch64__) || defined(__riscv)
enum { NR_SETXATTRAT = 463, NR_GETXATTRAT = 464, NR_LISTXATTRAT = 465, NR_REMOVEXATTRAT = 466 };
#define HAVE_XATTRAT_NUMBERS true
#else
enum { NR_SETXATTRAT = -1, NR_GETXATTRAT = -1, NR_LISTXATTRAT = -1, NR_REMOVEXATTRAT = -1 };
#define HAVE_XATTRAT_NUMBERS false
#endif
static bool no_xattrat; /* ENOSYS seen (or TSFUSE_NO_XATTRAT set, to test the fallback): do not ask again */

/* true when the *at result stands; false: take the fallback (r is then not a result) */
static bool xattrat_done(long r) {
  if (r >= 0 || (errno != ENOSYS && errno != EPERM)) return true;
  if (errno == ENOSYS) no_xattrat = true;
  return false;
}

/* the path the fallback uses: plain, or through the directory fd in /proc */
#define FALLBACK_PATH(var, dirfd, p) char var[4200]; do { \
  if ((dirfd) == AT_FDCWD || (p)[0] == '/') snprintf(var, sizeof var, "%s", p); \
  else if (snprintf(var, sizeof var, "/proc/self/fd/%d/%s", dirfd, p) >= (int)sizeof var) return num(env, -ENAMETOOLONG); \
} while (0)

/* lgetxattr(dirfd, path, name, buffer): a buffer of length 0 probes the size */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  ARGS(4); PATH_ARG(p, argv[1]); PATH_ARG(n, argv[2]);
  int dfd = FD_ARG(argv[0]);
  size_t len; void *b = arg_buf(env, argv[3], &len);
  if (!no_xattrat) {
    struct xattr_args_v0 a = { (uint64_t)(uintptr_t)(len ? b : NULL), (uint32_t)len, 0 };
    long r = syscall(NR_GETXATTRAT, dfd, p, AT_SYMLINK_NOFOLLOW, n, &a, sizeof a);
    if (xattrat_done(r)) RET(r);
  }
  FALLBACK_PATH(q, dfd, p);
  RET(lgetxattr(q, n, len ? b : NULL, len));
}

static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  ARGS(3); PATH_ARG(p, argv[1]);
  int dfd = FD_ARG(argv[0]);
  size_t len; void *b = arg_buf(env, argv[2], &len);
  if (!no_xattrat) {
    long r = syscall(NR_LISTXATTRAT, dfd, p, AT_SYMLINK_NOFOLLOW, len ? b : NULL, len);
    if (xattrat_done(r)) RET(r);
  }
  FALLBACK_PATH(q, dfd, p);
  RET(llistxattr(q, len ? b : NULL, len));
}

/* lsetxattr(dirfd, path, name, value, flags) */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  ARGS(5); PATH_ARG(p, argv[1]); PATH_ARG(n, argv[2]);
  int dfd = FD_ARG(argv[0]), flags = (int)arg_int(env, argv[4]);
  size_t len; void *b = arg_buf(env, argv[3], &len);
  if (!no_xattrat) {
    struct xattr_args_v0 a = { (uint64_t)(uintptr_t)b, (uint32_t)len, (uint32_t)flags };
    long r = syscall(NR_SETXATTRAT, dfd, p, AT_SYMLINK_NOFOLLOW, n, &a, sizeof a);
    if (xattrat_done(r)) RET(r);
  }
  FALLBACK_PATH(q, dfd, p);
  RET(lsetxattr(q, n, b, len, flags));
}

static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  ARGS(3); PATH_ARG(p, argv[1]); PATH_ARG(n, argv[2]);
  int dfd = FD_ARG(argv[0]);
  if (!no_xattrat) {
    long r = syscall(NR_REMOVEXATTRAT, dfd, p, AT_SYMLINK_NOFOLLOW, n);
    if (xattrat_done(r)) RET(r);
  }
  FALLBACK_PATH(q, dfd, p);
  RET(lremovexattr(q, n));
}

/* utimensat(dirfd, path, asec, ansec, msec, mnsec, nofollow); nsec may be UTIME_NOW / UTIME_OMIT */
static napi_value js_utimensat(napi_env env, napi_callback_info info) {
  ARGS(7); PATH_ARG(p, argv[1]);
  struct timespec ts[2] = {
    { (time_t)arg_int(env, argv[2]), (long)arg_int(env, argv[3]) },
    { (time_t)arg_int(env, argv[4]), (long)arg_int(env, argv[5]) },
  };
  bool nofollow = false;
  napi_get_value_bool(env, argv[6], &nofollow);
  RET(utimensat(FD_ARG(argv[0]), p, ts, nofollow ? AT_SYMLINK_NOFOLLOW : 0));
}

static napi_value js_fallocate(napi_env env, napi_callback_info info) {
  ARGS(4); /* fd, mode, offset, length */
  RET(fallocate((int)arg_int(env, argv[0]), (int)arg_int(env, argv[1]), (off_t)arg_int(env, argv[2]), (off_t)arg_int(env, argv[3])));
}

static napi_value js_lseek(napi_env env, napi_callback_info info) {
  ARGS(3); /* fd, offset, whence */
  RET(lseek((int)arg_int(env, argv[0]), (off_t)arg_int(env, argv[1]), (int)arg_int(env, argv[2])));
}

static napi_value js_ioctl_clone(napi_env env, napi_callback_info info) {
  ARGS(2); /* newfd, sessionfd */
  uint32_t src = (uint32_t)arg_int(env, argv[1]);
  RET(ioctl((int)arg_int(env, argv[0]), FUSE_DEV_IOC_CLONE, &src));
}

static napi_value js_backing_open(napi_env env, napi_callback_info info) {
  ARGS(2); /* devfd, backing fd */
  struct fuse_backing_map map = { (int32_t)arg_int(env, argv[1]), 0, 0 };
  RET(ioctl((int)arg_int(env, argv[0]), FUSE_DEV_IOC_BACKING_OPEN, &map));
}

static napi_value js_backing_close(napi_env env, napi_callback_info info) {
  ARGS(2); /* devfd, backing id */
  uint32_t id = (uint32_t)arg_int(env, argv[1]);
  RET(ioctl((int)arg_int(env, argv[0]), FUSE_DEV_IOC_BACKING_CLOSE, &id));
}

/* read(fd, buf) -> bytes, or -errno (EAGAIN on an empty non-blocking fd) */
static napi_value js_read(napi_env env, napi_callback_info info) {
  ARGS(2);
  size_t len; void *b = arg_buf(env, argv[1], &len);
  ssize_t r;
  do r = read((int)arg_int(env, argv[0]), b, len); while (r < 0 && errno == EINTR);
  RET(r);
}

/* ---- readiness: watch(fd, callback) -> handle; the callback gets (status) ---- */
typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref cb;
  napi_async_context ctx;
  int closed;
} watch_t;

static void watch_closed(uv_handle_t *h) {
  watch_t *w = h->data;
  napi_delete_reference(w->env, w->cb);
  napi_async_destroy(w->env, w->ctx);
  free(w);
}

static void watch_event(uv_poll_t *p, int status, int events) {
  watch_t *w = p->data;
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, global, arg, result;
  napi_get_reference_value(env, w->cb, &cb);
  napi_get_global(env, &global);
  arg = num(env, status < 0 ? status : ((events & UV_DISCONNECT) ? -ENODEV : 0));
  /* make_callback drains the microtask queue after the call, so promise
   * continuations of the handlers run before libuv polls again */
  if (napi_make_callback(env, w->ctx, global, cb, 1, &arg, &result) != napi_ok) {
    napi_value err;
    if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static void watch_finalize(napi_env env, void *data, void *hint) {
  /* the JS object is gone: nothing to do, stop() owns the handle */
}

static napi_value js_watch(napi_env env, napi_callback_info info) {
  ARGS(2);
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  watch_t *w = calloc(1, sizeof *w);
  if (!w) return num(env, -ENOMEM);
  w->env = env;
  if (uv_poll_init(loop, &w->poll, (int)arg_int(env, argv[0])) < 0) { free(w); return num(env, -EINVAL); }
  w->poll.data = w;
  napi_create_reference(env, argv[1], 1, &w->cb);
  napi_value name;
  napi_create_string_utf8(env, "tsfuse:fuse-fd", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &w->ctx);
  uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, watch_event);
  napi_value ext;
  CHECK(napi_create_external(env, w, watch_finalize, NULL, &ext));
  return ext;
}

static napi_value js_unwatch(napi_env env, napi_callback_info info) {
  ARGS(1);
  watch_t *w = NULL;
  CHECK(napi_get_value_external(env, argv[0], (void **)&w));
  if (w && !w->closed) {
    w->closed = 1;
    uv_poll_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, watch_closed);
  }
  return num(env, 0);
}

/* pause(handle) / resume(handle): stop and restart readiness callbacks */
static napi_value js_pause(napi_env env, napi_callback_info info) {
  ARGS(1);
  watch_t *w = NULL;
  CHECK(napi_get_value_external(env, argv[0], (void **)&w));
  if (w && !w->closed) uv_poll_stop(&w->poll);
  return num(env, 0);
}

static napi_value js_resume(napi_env env, napi_callback_info info) {
  ARGS(1);
  watch_t *w = NULL;
  CHECK(napi_get_value_external(env, argv[0], (void **)&w));
  if (w && !w->closed) uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, watch_event);
  return num(env, 0);
}

/* setNonblock(fd): O_NONBLOCK on an fd we received (Node has no fcntl) */
static napi_value js_set_nonblock(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd = (int)arg_int(env, argv[0]);
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return num(env, -errno);
  RET(fcntl(fd, F_SETFL, fl | O_NONBLOCK));
}

/*
 * lstatat(dirfd, path, out Float64Array[14]) -> 0 or -errno. out[0..9] as
 * doubles: dev, mode, nlink, uid, gid, rdev, blksize, ino, size, blocks;
 * out[10..13] as int64 nanoseconds (read through a BigInt64Array view):
 * atime, mtime, ctime, btime (0 where the filesystem has none). Doubles and
 * whole nanoseconds keep the caller from making ~20 BigInts per stat.
 */
static napi_value js_lstatat(napi_env env, napi_callback_info info) {
  ARGS(3); PATH_ARG(path, argv[1]);
  napi_typedarray_type type;
  size_t len = 0;
  void *data = NULL;
  if (napi_get_typedarray_info(env, argv[2], &type, &len, &data, NULL, NULL) != napi_ok || type != napi_float64_array || len < 14)
    return num(env, -EINVAL);
  struct statx sx;
  if (statx(FD_ARG(argv[0]), path, AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS | STATX_BTIME, &sx) < 0) return num(env, -errno);
  double *d = data;
  d[0] = (double)makedev(sx.stx_dev_major, sx.stx_dev_minor); d[1] = sx.stx_mode; d[2] = sx.stx_nlink;
  d[3] = sx.stx_uid; d[4] = sx.stx_gid; d[5] = (double)makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
  d[6] = sx.stx_blksize; d[7] = (double)sx.stx_ino; d[8] = (double)sx.stx_size; d[9] = (double)sx.stx_blocks;
  int64_t t[4] = {
    sx.stx_atime.tv_sec * 1000000000LL + sx.stx_atime.tv_nsec, sx.stx_mtime.tv_sec * 1000000000LL + sx.stx_mtime.tv_nsec,
    sx.stx_ctime.tv_sec * 1000000000LL + sx.stx_ctime.tv_nsec,
    (sx.stx_mask & STATX_BTIME) ? sx.stx_btime.tv_sec * 1000000000LL + sx.stx_btime.tv_nsec : 0,
  };
  memcpy(d + 10, t, sizeof t);
  return num(env, 0);
}

/*
 * readdirat(dirfd, path) -> Buffer or -errno: every entry but . and .. as
 * its d_type byte, its name, a NUL. One buffer instead of a Dirent object
 * per entry, and no path walk through /proc.
 */
static napi_value js_readdirat(napi_env env, napi_callback_info info) {
  ARGS(2); PATH_ARG(p, argv[1]);
  int fd = openat(FD_ARG(argv[0]), p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return num(env, -errno);
  DIR *d = fdopendir(fd);
  if (!d) { int e = errno; close(fd); return num(env, -e); }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  int err = buf ? 0 : ENOMEM;
  while (!err) {
    errno = 0;
    struct dirent *de = readdir(d);
    if (!de) { err = errno; break; }
    const char *n = de->d_name;
    if (n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]))) continue;
    size_t nl = strlen(n);
    if (len + nl + 2 > cap) {
      char *nb = realloc(buf, cap = (cap + nl + 2) * 2);
      if (!nb) { err = ENOMEM; break; }
      buf = nb;
    }
    buf[len++] = (char)de->d_type;
    memcpy(buf + len, n, nl + 1);
    len += nl + 1;
  }
  closedir(d);
  if (err) { free(buf); return num(env, -err); }
  napi_value out;
  napi_status st = napi_create_buffer_copy(env, len, buf, NULL, &out);
  free(buf);
  if (st != napi_ok) return num(env, -ENOMEM);
  return out;
}

/* mount(source, target, fstype, flags, data) */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  ARGS(5);
  char *src = arg_str(env, argv[0]), *tgt = arg_str(env, argv[1]), *type = arg_str(env, argv[2]), *data = arg_str(env, argv[4]);
  int r = (src && tgt && type && data) ? mount(src, tgt, type, (unsigned long)arg_int(env, argv[3]), data) : (errno = ENOMEM, -1);
  int e = errno; free(src); free(tgt); free(type); free(data); errno = e;
  RET(r);
}

static napi_value js_setsid(napi_env env, napi_callback_info info) {
  (void)info;
  RET(setsid());
}

/*
 * poolThreads(n, cb): the thread ids of libuv's pool. n work items are
 * queued at once and each holds its thread for 30 ms, so that an idle pool
 * of n threads runs one on each; cb(ids) gets the ids each one ran on (a
 * repeated id: some pool thread was busy, the caller cannot tell them all).
 */
struct pool_batch { int n, done; double tids[64]; napi_ref cb; };
struct pool_item { struct pool_batch *b; int i; napi_async_work w; };

static void pool_exec(napi_env env, void *data) {
  (void)env;
  struct pool_item *it = data;
  it->b->tids[it->i] = (double)syscall(SYS_gettid);
  usleep(30000);
}

static void pool_done(napi_env env, napi_status status, void *data) {
  (void)status;
  struct pool_item *it = data;
  struct pool_batch *b = it->b;
  napi_delete_async_work(env, it->w);
  free(it);
  if (++b->done < b->n) return;
  napi_value arr, cb, global, ret;
  if (napi_create_array_with_length(env, (size_t)b->n, &arr) == napi_ok) {
    for (int i = 0; i < b->n; i++) napi_set_element(env, arr, (uint32_t)i, num(env, b->tids[i]));
    if (napi_get_reference_value(env, b->cb, &cb) == napi_ok && napi_get_global(env, &global) == napi_ok) {
      napi_call_function(env, global, cb, 1, &arr, &ret);
    }
  }
  napi_delete_reference(env, b->cb);
  free(b);
}

static napi_value js_pool_threads(napi_env env, napi_callback_info info) {
  ARGS(2);
  int n = (int)arg_int(env, argv[0]);
  if (n < 1 || n > 64) return num(env, -EINVAL);
  struct pool_batch *b = calloc(1, sizeof *b);
  if (!b) return num(env, -ENOMEM);
  b->n = n;
  CHECK(napi_create_reference(env, argv[1], 1, &b->cb));
  napi_value name;
  CHECK(napi_create_string_utf8(env, "tsfuse-pool-threads", NAPI_AUTO_LENGTH, &name));
  for (int i = 0; i < n; i++) {
    struct pool_item *it = calloc(1, sizeof *it);
    if (!it) { b->n = i; break; } /* the ones queued still complete and call back */
    it->b = b; it->i = i;
    CHECK(napi_create_async_work(env, NULL, name, pool_exec, pool_done, it, &it->w));
    CHECK(napi_queue_async_work(env, it->w));
  }
  return num(env, 0);
}

/* setThreadNice(tid, nice): setpriority for one thread of ours (Linux: nice is per thread). */
static napi_value js_set_thread_nice(napi_env env, napi_callback_info info) {
  ARGS(2);
  RET(setpriority(PRIO_PROCESS, (id_t)arg_int(env, argv[0]), (int)arg_int(env, argv[1])));
}

static napi_value js_makedev(napi_env env, napi_callback_info info) {
  ARGS(2);
  return num(env, (double)makedev((unsigned)arg_int(env, argv[0]), (unsigned)arg_int(env, argv[1])));
}

NAPI_MODULE_INIT() {
  const char *nx = getenv("TSFUSE_NO_XATTRAT");
  no_xattrat = !HAVE_XATTRAT_NUMBERS || (nx && *nx);
  static const struct { const char *name; napi_callback fn; } fns[] = {
    { "socketpair", js_socketpair }, { "recvFd", js_recv_fd },
    { "lgetxattr", js_lgetxattr }, { "llistxattr", js_llistxattr },
    { "lsetxattr", js_lsetxattr }, { "lremovexattr", js_lremovexattr },
    { "openat", js_openat }, { "mkdirat", js_mkdirat }, { "unlinkat", js_unlinkat },
    { "fchmodat", js_fchmodat }, { "fchownat", js_fchownat }, { "mknodat", js_mknodat },
    { "symlinkat", js_symlinkat }, { "readlinkat", js_readlinkat }, { "linkat", js_linkat }, { "renameat", js_renameat },
    { "utimensat", js_utimensat }, { "fallocate", js_fallocate }, { "lseek", js_lseek },
    { "ioctlClone", js_ioctl_clone }, { "backingOpen", js_backing_open },
    { "backingClose", js_backing_close }, { "read", js_read },
    { "watch", js_watch }, { "unwatch", js_unwatch }, { "pause", js_pause },
    { "resume", js_resume }, { "setNonblock", js_set_nonblock },
    { "makedev", js_makedev }, { "mount", js_mount }, { "setsid", js_setsid },
    { "lstatat", js_lstatat }, { "readdirat", js_readdirat },
    { "poolThreads", js_pool_threads }, { "setThreadNice", js_set_thread_nice },
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  return exports;
}
