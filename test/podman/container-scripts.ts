/** Shell snippets run inside the test containers (busybox sh), shared by the podman tests. */

/** `find` listing run inside a container: one line per entry, file contents inline ('|' for newlines) */
export const LIST = `list() { find "$@" | sort | while read -r f; do
  if [ -L "$f" ]; then echo "l $f -> $(readlink "$f")";
  elif [ -d "$f" ]; then echo "d $(stat -c %a "$f") $f";
  else echo "f $(stat -c '%a %h' "$f") $f: $(tr '\\n' '|' < "$f")"; fi; done; }`;

/** prints the file system type of / (in a container) */
export const ROOT_FSTYPE = `awk '$2 == "/" { print $3 }' /proc/mounts`;
export const FUSE_TYPE = /^fuse(\.|$)/;

/** /data of the base image (mkrootfs.sh) */
export const BASE_DATA = [
  'd 755 /data',
  'f 644 1 /data/a.txt: alpha|',
  'f 644 1 /data/b.txt: bravo|',
  'f 644 1 /data/c.txt: charlie|',
  'f 644 1 /data/d.txt: delta|',
  'd 755 /data/dir1',
  'f 644 1 /data/dir1/f1: one|',
  'd 755 /data/dir1/sub',
  'f 644 1 /data/dir1/sub/f2: deep|',
  'd 755 /data/dir2',
  'f 644 1 /data/dir2/g: two|',
  'l /data/link-a -> a.txt',
];

/** The path a LIST line is about. */
export const listedPath = (line: string): string => / (\/[^:]*?)(:| ->|$)/.exec(line)?.[1] ?? line;

/** LIST lines in LIST's order (sorted by path). */
export const inListOrder = (ls: string[]): string[] => [...ls].sort((a, b) => (listedPath(a) < listedPath(b) ? -1 : listedPath(a) > listedPath(b) ? 1 : 0));
