#!/bin/sh
# Writes a self-contained podman environment under DIR (graph root, run root,
# tmp dir, events log, crun state, configs, wrappers) whose overlay driver uses
# MOUNT_PROGRAM through a logging wrapper, and prints the environment to use:
#
#   eval "$(test/podman/setup-env.sh /tmp/pm /usr/bin/fuse-overlayfs)"
#   podman-isolated import rootfs.tar localhost/bb:base   # import/build/commit
#   podman-isolated build --network none -t localhost/bb:x CONTEXT
#   podman run --rm localhost/bb:base cat /etc/passwd      # everything else
#   podman system reset -f                                 # removes DIR/graph, DIR/run, DIR/tmp
#
# `podman build` needs --network none: netns = "none" below covers podman run
# only, and buildah's default for RUN steps is a CNI bridge (cni-podman0,
# iptables CNI-* chains, /var/lib/cni) on the host.
# HOME is DIR/home: podman creates ~/.config/containers even as root.
#
# Nothing outside DIR is written, with one exception avoided by
# DIR/podman-isolated: podman 4.3's import, build and commit open the blob info
# cache at the fixed path /var/lib/containers/cache (containers/image uses it
# for root unless the caller sets BlobInfoCacheDir, which podman 4.3 does not
# for these commands, and no setting changes it); commit and build also
# create (and at once delete) temp files in /var/tmp despite TMPDIR and
# image_copy_tmp_dir. podman-isolated runs podman in a private mount
# namespace whose /var/lib and /var/tmp are DIR/varlib and DIR/vartmp.
#
# The three settings the sandbox needs (see machine-notes.md): default_ulimits
# within the hard RLIMIT_NOFILE, a crun wrapper that drops the hybrid cgroup2
# mount in its own mount namespace, and cgroups/netns/cgroup manager/events
# logger that need no systemd or network. The runtime entry must be named
# "crun": podman 4.3 refuses cgroups="disabled" for any other runtime name,
# even with runtime_supports_nocgroups listing it.
set -eu
if [ $# -ne 2 ]; then echo "usage: $0 DIR MOUNT_PROGRAM" >&2; exit 2; fi
D=$(cd "$1" 2>/dev/null && pwd) || { mkdir -p "$1"; D=$(cd "$1" && pwd); }
MP=$2; case "$MP" in /*) ;; *) MP=$PWD/$MP;; esac
case "$D" in *[!A-Za-z0-9/._-]*) echo "$0: DIR must be a plain path: $D" >&2; exit 2;; esac
mkdir -p "$D/tmp" "$D/varlib" "$D/vartmp" "$D/net" "$D/crun" "$D/bin" "$D/home"

# the mount program, logging each argv (tab-separated, one line per call)
cat > "$D/bin/mount-program" <<W
#!/bin/sh
( printf '%s' "\$1"; shift; for a in "\$@"; do printf '\t%s' "\$a"; done; printf '\n' ) >> "$D/mount-program.log"
exec "$MP" "\$@"
W

# crun refuses the hybrid cgroup layout: in its own mount namespace the cgroup2
# mount goes away (as root), or is covered by an empty tmpfs (rootless podman:
# a mount inherited from the host cannot be unmounted in its user namespace)
cat > "$D/bin/crun" <<W
#!/bin/sh
exec unshare --mount --propagation slave sh -c 'umount -l /sys/fs/cgroup/unified 2>/dev/null || mount -t tmpfs -o ro none /sys/fs/cgroup/unified 2>/dev/null; exec /usr/bin/crun --root "$D/crun" "\$@"' crun "\$@"
W

cat > "$D/bin/podman-isolated" <<W
#!/bin/sh
exec unshare --mount --propagation private sh -c 'mount --bind "$D/varlib" /var/lib && mount --bind "$D/vartmp" /var/tmp && exec podman "\$@"' podman "\$@"
W
chmod +x "$D/bin/mount-program" "$D/bin/crun" "$D/bin/podman-isolated"

cat > "$D/storage.conf" <<C
[storage]
driver = "overlay"
graphroot = "$D/graph"
runroot = "$D/run"

[storage.options.overlay]
mount_program = "$D/bin/mount-program"
C

cat > "$D/containers.conf" <<C
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
cgroups = "disabled"
netns = "none"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$D/events.log"
runtime = "crun"
tmp_dir = "$D/tmp"
image_copy_tmp_dir = "$D/tmp"
static_dir = "$D/graph/libpod"
volume_path = "$D/graph/volumes"

[engine.runtimes]
crun = ["$D/bin/crun"]

[network]
network_config_dir = "$D/net"
C

echo "export CONTAINERS_CONF='$D/containers.conf' CONTAINERS_STORAGE_CONF='$D/storage.conf' TMPDIR='$D/tmp' HOME='$D/home' PATH='$D/bin':\"\$PATH\""
