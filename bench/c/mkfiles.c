/*
 * mkfiles DIR COUNT SIZE
 * Creates COUNT files DIR/f<i> (open O_CREAT|O_EXCL|O_WRONLY, write SIZE
 * bytes, close), sequentially. DIR must exist.
 * Prints one JSON line: {"files":N,"secs":S,"error":""}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
	if (argc != 4) { fprintf(stderr, "usage: mkfiles DIR COUNT SIZE\n"); return 2; }
	int n = atoi(argv[2]);
	size_t size = strtoul(argv[3], NULL, 10);
	char *buf = malloc(size ? size : 1);
	memset(buf, 'x', size);
	char path[4096];
	const char *err = "";
	int done = 0;
	double t0 = now();
	for (; done < n; done++) {
		snprintf(path, sizeof path, "%s/f%06d", argv[1], done);
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0) { err = strerror(errno); break; }
		if (size && write(fd, buf, size) != (ssize_t)size) { err = strerror(errno); close(fd); break; }
		if (close(fd) != 0) { err = strerror(errno); break; }
	}
	double el = now() - t0;
	printf("{\"files\":%d,\"secs\":%.6f,\"error\":\"%s\"}\n", done, el, err);
	return *err ? 1 : 0;
}
