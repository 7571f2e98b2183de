/*
 * statstorm PREFIX THREADS SECONDS
 * Each of THREADS threads calls stat("PREFIX.<thread>") in a loop for
 * SECONDS seconds (one call outstanding per thread: QD1 per client).
 * Prints one JSON line: {"ops":N,"secs":S,"errors":E,"threads":T}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct targ { pthread_t th; char path[4096]; long ops, errors; int first_errno; };

static pthread_barrier_t bar;
static double t_end;

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void *worker(void *p) {
	struct targ *t = p;
	struct stat st;
	pthread_barrier_wait(&bar);
	for (;;) {
		for (int i = 0; i < 32; i++) {
			if (stat(t->path, &st) != 0) {
				if (!t->errors++) t->first_errno = errno;
			}
			t->ops++;
		}
		if (now() >= t_end) break;
	}
	return NULL;
}

int main(int argc, char **argv) {
	if (argc != 4) { fprintf(stderr, "usage: statstorm PREFIX THREADS SECONDS\n"); return 2; }
	int n = atoi(argv[2]);
	double secs = atof(argv[3]);
	if (n < 1 || secs <= 0) { fprintf(stderr, "statstorm: bad arguments\n"); return 2; }
	struct targ *ts = calloc(n, sizeof *ts);
	pthread_barrier_init(&bar, NULL, n + 1);
	for (int i = 0; i < n; i++) {
		snprintf(ts[i].path, sizeof ts[i].path, "%s.%d", argv[1], i);
		if (pthread_create(&ts[i].th, NULL, worker, &ts[i]) != 0) { perror("pthread_create"); return 1; }
	}
	double t0 = now();
	t_end = t0 + secs;
	pthread_barrier_wait(&bar);
	long ops = 0, errors = 0; int first_errno = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(ts[i].th, NULL);
		ops += ts[i].ops; errors += ts[i].errors;
		if (!first_errno) first_errno = ts[i].first_errno;
	}
	double el = now() - t0;
	printf("{\"ops\":%ld,\"secs\":%.6f,\"errors\":%ld,\"threads\":%d,\"error\":\"%s\"}\n",
	       ops, el, errors, n, errors ? strerror(first_errno) : "");
	return errors ? 1 : 0;
}
