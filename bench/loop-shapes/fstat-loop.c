/* fstat() round trips on one open file: with attr_valid 0 every call is one
 * FUSE GETATTR. Prints microseconds per call. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: fstat-loop FILE N\n"); return 2; }
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) { perror(argv[1]); return 1; }
  long n = atol(argv[2]);
  struct stat st;
  struct timespec a, b;
  for (int i = 0; i < 1000; i++) fstat(fd, &st);
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) if (fstat(fd, &st) < 0) { perror("fstat"); return 1; }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / n;
  printf("%.2f\n", us);
  return 0;
}
