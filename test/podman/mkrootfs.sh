#!/bin/sh
# Builds OUT.tar, a minimal container rootfs: Debian's static busybox
# (busybox-static) with a symlink per applet in /bin, /etc/passwd and
# /etc/group for root, and a /data tree of known files the tests modify.
# Owner root, fixed mtimes, so the tarball is the same on every run.
set -eu
if [ $# -ne 1 ]; then echo "usage: $0 OUT.tar" >&2; exit 2; fi
OUT=$1
BB=/bin/busybox
[ -x "$BB" ] || { echo "$0: $BB missing (apt-get install busybox-static)" >&2; exit 1; }
if ldd "$BB" >/dev/null 2>&1; then echo "$0: $BB is dynamically linked (need busybox-static)" >&2; exit 1; fi
R=$(mktemp -d "${OUT}.root.XXXXXX")
trap 'rm -rf "$R"' EXIT
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/root" "$R/proc" "$R/sys" "$R/dev" \
  "$R/data/dir1/sub" "$R/data/dir2"
chmod 0755 "$R"
chmod 1777 "$R/tmp"
cp "$BB" "$R/bin/busybox"
for a in $("$BB" --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$R/etc/group"
printf 'alpha\n' > "$R/data/a.txt"
printf 'bravo\n' > "$R/data/b.txt"
printf 'charlie\n' > "$R/data/c.txt"
printf 'delta\n' > "$R/data/d.txt"
printf 'one\n' > "$R/data/dir1/f1"
printf 'deep\n' > "$R/data/dir1/sub/f2"
printf 'two\n' > "$R/data/dir2/g"
ln -s a.txt "$R/data/link-a"
chmod 0644 "$R"/data/*.txt "$R/data/dir1/f1" "$R/data/dir1/sub/f2" "$R/data/dir2/g"
chmod 0755 "$R/data" "$R/data/dir1" "$R/data/dir1/sub" "$R/data/dir2"
tar -C "$R" --numeric-owner --owner=0 --group=0 --mtime=@1000000000 --sort=name -cf "$OUT" .
