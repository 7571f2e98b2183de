/*
 * tsfuse native shim: only what Node cannot do by itself.
 *   - receive the /dev/fuse fd from fusermount3 (socketpair + SCM_RIGHTS)
 *   - l{get,set,list,remove}xattr, mknodat, renameat2 with flags, and the
 *     calls fs lacks: utimensat with nanoseconds/UTIME_OMIT, fallocate,
 *     lseek (SEEK_DATA/SEEK_HOLE)
 *   - the FUSE device ioctls (CLONE, BACKING_OPEN, BACKING_CLOSE)
 *   - readiness of the /dev/fuse fd on the libuv loop, and a read that
 *     reports EAGAIN as a number instead of a thrown exception
 *   - mount(2) as root (no mount(8) process per mount) and setsid() for a
 *     daemon started straight in the background
 * No protocol logic lives here. Every call returns a number; a negative
 * number is -errno.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
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

static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  ARGS(3); /* path, name, buffer (may be length 0 to probe) */
  char *p = arg_str(env, argv[0]), *n = arg_str(env, argv[1]);
  size_t len; void *b = arg_buf(env, argv[2], &len);
  ssize_t r = (p && n) ? lgetxattr(p, n, len ? b : NULL, len) : (errno = ENOMEM, -1);
  int e = errno; free(p); free(n); errno = e;
  RET(r);
}

static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  ARGS(2); /* path, buffer */
  char *p = arg_str(env, argv[0]);
  size_t len; void *b = arg_buf(env, argv[1], &len);
  ssize_t r = p ? llistxattr(p, len ? b : NULL, len) : (errno = ENOMEM, -1);
  int e = errno; free(p); errno = e;
  RET(r);
}

static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  ARGS(4); /* path, name, buffer, flags */
  char *p = arg_str(env, argv[0]), *n = arg_str(env, argv[1]);
  size_t len; void *b = arg_buf(env, argv[2], &len);
  int r = (p && n) ? lsetxattr(p, n, b, len, (int)arg_int(env, argv[3])) : (errno = ENOMEM, -1);
  int e = errno; free(p); free(n); errno = e;
  RET(r);
}

static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  ARGS(2);
  char *p = arg_str(env, argv[0]), *n = arg_str(env, argv[1]);
  int r = (p && n) ? lremovexattr(p, n) : (errno = ENOMEM, -1);
  int e = errno; free(p); free(n); errno = e;
  RET(r);
}

static napi_value js_mknod(napi_env env, napi_callback_info info) {
  ARGS(3); /* path, mode, rdev */
  char *p = arg_str(env, argv[0]);
  int r = p ? mknodat(AT_FDCWD, p, (mode_t)arg_int(env, argv[1]), (dev_t)arg_int(env, argv[2])) : (errno = ENOMEM, -1);
  int e = errno; free(p); errno = e;
  RET(r);
}

static napi_value js_renameat2(napi_env env, napi_callback_info info) {
  ARGS(3); /* old, new, flags */
  char *a = arg_str(env, argv[0]), *b = arg_str(env, argv[1]);
  long r = (a && b) ? syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, (unsigned)arg_int(env, argv[2])) : (errno = ENOMEM, -1);
  int e = errno; free(a); free(b); errno = e;
  RET(r);
}

/* utimensat(path, asec, ansec, msec, mnsec, nofollow); nsec may be UTIME_NOW / UTIME_OMIT */
static napi_value js_utimensat(napi_env env, napi_callback_info info) {
  ARGS(6);
  char *p = arg_str(env, argv[0]);
  struct timespec ts[2] = {
    { (time_t)arg_int(env, argv[1]), (long)arg_int(env, argv[2]) },
    { (time_t)arg_int(env, argv[3]), (long)arg_int(env, argv[4]) },
  };
  bool nofollow = false;
  napi_get_value_bool(env, argv[5], &nofollow);
  int r = p ? utimensat(AT_FDCWD, p, ts, nofollow ? AT_SYMLINK_NOFOLLOW : 0) : (errno = ENOMEM, -1);
  int e = errno; free(p); errno = e;
  RET(r);
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

static napi_value js_makedev(napi_env env, napi_callback_info info) {
  ARGS(2);
  return num(env, (double)makedev((unsigned)arg_int(env, argv[0]), (unsigned)arg_int(env, argv[1])));
}

NAPI_MODULE_INIT() {
  static const struct { const char *name; napi_callback fn; } fns[] = {
    { "socketpair", js_socketpair }, { "recvFd", js_recv_fd },
    { "lgetxattr", js_lgetxattr }, { "llistxattr", js_llistxattr },
    { "lsetxattr", js_lsetxattr }, { "lremovexattr", js_lremovexattr },
    { "mknod", js_mknod }, { "renameat2", js_renameat2 },
    { "utimensat", js_utimensat }, { "fallocate", js_fallocate }, { "lseek", js_lseek },
    { "ioctlClone", js_ioctl_clone }, { "backingOpen", js_backing_open },
    { "backingClose", js_backing_close }, { "read", js_read },
    { "watch", js_watch }, { "unwatch", js_unwatch }, { "pause", js_pause },
    { "resume", js_resume }, { "setNonblock", js_set_nonblock },
    { "makedev", js_makedev }, { "mount", js_mount }, { "setsid", js_setsid },
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  return exports;
}
