/*
 * F3 (note-cleared-after-publish) on a real kernel, as the machine's /init.
 *
 * A notification pipe sized to one page (32 notes) watches a user key. A
 * poster pinned to CPU 0 updates the key as fast as it can while a reader
 * pinned to CPU 1 spins on non-blocking reads, for phases of 5 s. After
 * each phase both stop and the detector, user space only, posts 64 updates
 * with nobody reading and counts the key records that come out: a queue
 * that lost no note delivers 32 (then the loss record); fewer means notes
 * leaked, for good. It prints one "f3|" line per phase and powers off.
 * The kernel command line's f3_phases=N (default 12), which the kernel
 * hands to /init in its environment, sets the number of phases.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sched.h>
#include <pthread.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/reboot.h>
#include <stdatomic.h>

#define O_NOTIFICATION_PIPE O_EXCL
#define IOC_WATCH_QUEUE_SET_SIZE _IO('W', 0x60)
#define KEYCTL_UPDATE 2
#define KEYCTL_JOIN_SESSION_KEYRING 1
#define KEYCTL_WATCH_KEY 32
#define KEY_SPEC_SESSION_KEYRING -3

static int rfd;
static long key;
static atomic_int stop;
static atomic_long posts;

static long keyctl(int op, long a, long b, long c, long d) { return syscall(__NR_keyctl, op, a, b, c, d); }

static void pin(int cpu) { cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s); sched_setaffinity(0, sizeof s, &s); }

static void *poster(void *x) { pin(0); while (!atomic_load(&stop)) { keyctl(KEYCTL_UPDATE, key, (long)"x", 1, 0); atomic_fetch_add(&posts, 1); } return 0; }
static void *reader(void *x) { char b[4096]; pin(1); while (!atomic_load(&stop)) { (void)!read(rfd, b, sizeof b); } return 0; }

static void drain(void) { char b[4096]; while (read(rfd, b, sizeof b) > 0) ; }

/* Post 64 with nobody reading, then count the key records that come out. */
static int probe(void) {
	char b[4096]; int recs = 0;
	drain();
	for (int i = 0; i < 64; i++) keyctl(KEYCTL_UPDATE, key, (long)"x", 1, 0);
	for (;;) {
		ssize_t n = read(rfd, b, sizeof b);
		if (n <= 0) break;
		for (ssize_t o = 0; o < n;) {
			unsigned int info = *(unsigned int *)(b + o + 4);
			unsigned int type = *(unsigned int *)(b + o) & 0xffffff;
			unsigned int len = info & 0x7f;
			if (len == 0) break;
			if (type == 1) recs++;
			o += len;
		}
	}
	return recs;
}

int main(int argc, char **argv) {
	int fds[2], phases = 12, secs = 5;

	if (getenv("f3_phases"))
		phases = atoi(getenv("f3_phases"));
	if (pipe2(fds, O_NOTIFICATION_PIPE | O_NONBLOCK) < 0) { perror("pipe2"); goto out; }
	rfd = fds[0];
	if (ioctl(rfd, IOC_WATCH_QUEUE_SET_SIZE, 32) < 0) { perror("size"); goto out; }
	keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0, 0, 0, 0);
	key = syscall(__NR_add_key, "user", "f3", "x", 1, KEY_SPEC_SESSION_KEYRING);
	if (key < 0) { perror("add_key"); goto out; }
	if (keyctl(KEYCTL_WATCH_KEY, key, rfd, 1, 0) < 0) { perror("watch"); goto out; }
	printf("f3| start notes=32 probe=%d\n", probe());
	struct timespec t0; clock_gettime(CLOCK_MONOTONIC, &t0);
	int first = -1, leaked = 0;
	for (int p = 1; p <= phases; p++) {
		pthread_t a, r;
		atomic_store(&stop, 0);
		pthread_create(&a, 0, poster, 0); pthread_create(&r, 0, reader, 0);
		sleep(secs);
		atomic_store(&stop, 1);
		pthread_join(a, 0); pthread_join(r, 0);
		int got = probe();
		leaked = got < 32 ? 32 - got : 0;
		if (leaked && first < 0) first = p * secs;
		printf("f3| t=%ds posts=%ld delivered=%d leaked=%d\n", p * secs, atomic_load(&posts), got, leaked);
		fflush(stdout);
		if (leaked == 32) break;
	}
	printf("f3| done posts=%ld leaked=%d first_hit_s=%d\n", atomic_load(&posts), leaked, first);
out:
	fflush(stdout); sync(); reboot(RB_POWER_OFF);
	return 0;
}
