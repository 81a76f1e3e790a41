// SPDX-License-Identifier: MIT
/*
 * zcrx_stat - print the counters of zcrx pools, for operators.
 *
 *   zcrx_stat [-p PID [-f FD]] [-i SECONDS [-c COUNT]]
 *
 * A pool belongs to the open file of /dev/zcrx that created it, so its
 * counters (ZCRXDEV_IOC_STATS) can only be asked through that file.  This
 * tool borrows it: pidfd_open(PID) and pidfd_getfd(FD) give it a duplicate
 * of the process's descriptor, it makes the one ioctl and closes the
 * duplicate at once (holding it would keep the pool alive after its owner
 * exits).  That needs ptrace access to the process: the same user (and a
 * kernel.yama.ptrace_scope that allows it), or CAP_SYS_PTRACE.
 *
 *   -p PID      the process (default: every process that has /dev/zcrx open)
 *   -f FD       its descriptor of /dev/zcrx (default: every one it has,
 *               found in /proc/PID/fd by device number)
 *   -i SECONDS  report again every SECONDS, with rates (default: once)
 *   -c COUNT    stop after COUNT reports (with -i)
 *
 * Also prints the module-wide gauges of /sys/class/misc/zcrx/: pools,
 * pool_pages and sockets.  Exits 1 when the module is not loaded, or when
 * -p was given and no pool of that process could be read.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <zcrx/zcrxdev.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open	434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd	438
#endif

#define SYSFS	"/sys/class/misc/zcrx"
#define MAX_POOLS 256

struct pool {
	int		pid, fd;
	int		seen;		/* found in this round */
	int		have_prev;
	struct zcrxdev_stats prev;
};

static dev_t zcrx_dev;
static struct pool pools[MAX_POOLS];
static int npools;

static int read_sysfs(const char *name, char *buf, size_t len)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), SYSFS "/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* The misc device's number, from sysfs: "MAJOR:MINOR". */
static int find_device(void)
{
	unsigned int maj, min;
	char buf[32];

	if (read_sysfs("dev", buf, sizeof(buf)) ||
	    sscanf(buf, "%u:%u", &maj, &min) != 2)
		return -1;
	zcrx_dev = makedev(maj, min);
	return 0;
}

static void comm_of(int pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (!f || !fgets(buf, (int)len, f))
		snprintf(buf, len, "?");
	buf[strcspn(buf, "\n")] = '\0';
	if (f)
		fclose(f);
}

static int is_zcrx_fd(int pid, int fd)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	return !stat(path, &st) && S_ISCHR(st.st_mode) && st.st_rdev == zcrx_dev;
}

static struct pool *pool_slot(int pid, int fd)
{
	int i;

	for (i = 0; i < npools; i++)
		if (pools[i].pid == pid && pools[i].fd == fd)
			return &pools[i];
	if (npools == MAX_POOLS)
		return NULL;
	memset(&pools[npools], 0, sizeof(pools[npools]));
	pools[npools].pid = pid;
	pools[npools].fd = fd;
	return &pools[npools++];
}

/* Mark every /dev/zcrx descriptor of pid as seen; -errno if unreadable. */
static int scan_pid(int pid, int only_fd)
{
	struct dirent *de;
	char path[64];
	struct pool *p;
	int found = 0;
	DIR *d;

	if (kill(pid, 0) && errno == ESRCH)
		return -ESRCH;
	if (only_fd >= 0) {
		if (!is_zcrx_fd(pid, only_fd))
			return errno == ENOENT || !errno ? -ENOENT : -errno;
		p = pool_slot(pid, only_fd);
		if (p)
			p->seen = 1;
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (!is_zcrx_fd(pid, atoi(de->d_name)))
			continue;
		p = pool_slot(pid, atoi(de->d_name));
		if (p) {
			p->seen = 1;
			found++;
		}
	}
	closedir(d);
	return found;
}

static void scan_all(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc");

	if (!d)
		return;
	while ((de = readdir(d)))
		if (isdigit((unsigned char)de->d_name[0]))
			scan_pid(atoi(de->d_name), -1);	/* others' fds: skipped */
	closedir(d);
}

/* Borrow the descriptor for one ioctl.  0 or -errno. */
static int read_stats(int pid, int fd, struct zcrxdev_stats *st)
{
	struct stat sb;
	int pidfd, dup, ret = 0;

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -errno;
	dup = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	if (dup < 0) {
		ret = -errno;
		close(pidfd);
		return ret;
	}
	/* The number may have been reused since the scan. */
	if (fstat(dup, &sb) || !S_ISCHR(sb.st_mode) || sb.st_rdev != zcrx_dev) {
		ret = -ENOENT;
	} else {
		memset(st, 0, sizeof(*st));
		if (ioctl(dup, ZCRXDEV_IOC_STATS, st))
			ret = -errno;
	}
	close(dup);
	close(pidfd);
	return ret;
}

static const char *why(int err)
{
	switch (err) {
	case EPERM:
	case EACCES:
		return "not permitted (needs ptrace access: same user, or CAP_SYS_PTRACE)";
	case ESRCH:
		return "no such process";
	case ENOENT:
	case EBADF:
		return "not a /dev/zcrx descriptor";
	case ENXIO:
		return "no pool (not set up yet)";
	case ENOSYS:
		return "pidfd_getfd() needs Linux 5.6 or later";
	default:
		return strerror(err);
	}
}

static void print_module(void)
{
	char pools_s[32], pages_s[32], socks_s[32];

	if (read_sysfs("pools", pools_s, sizeof(pools_s)) ||
	    read_sysfs("pool_pages", pages_s, sizeof(pages_s)) ||
	    read_sysfs("sockets", socks_s, sizeof(socks_s))) {
		printf("module: gauges unreadable in " SYSFS "\n");
		return;
	}
	printf("module: pools %s pool_pages %s (%.1f MiB) sockets %s\n", pools_s,
	       pages_s, strtod(pages_s, NULL) * sysconf(_SC_PAGESIZE) / 1048576.0,
	       socks_s);
}

#define U(x) ((unsigned long long)(x))

static void print_full(const struct pool *p, const struct zcrxdev_stats *st)
{
	char comm[64];

	comm_of(p->pid, comm, sizeof(comm));
	printf("pid %d (%s) fd %d:\n", p->pid, comm, p->fd);
	printf("  bytes_copied      %llu\n", U(st->bytes_copied));
	printf("  bytes_zerocopy    %llu\n", U(st->bytes_zerocopy));
	printf("  completions       %llu\n", U(st->completions));
	printf("  stalls            %llu\n", U(st->stalls));
	printf("  refill_entries    %llu\n", U(st->refill_entries));
	printf("  refill_bad        %llu\n", U(st->refill_bad));
	printf("  sockets_attached  %llu\n", U(st->sockets_attached));
	printf("  sockets_total     %llu\n", U(st->sockets_total));
	printf("  eof               %llu\n", U(st->eof));
	printf("  errors            %llu\n", U(st->errors));
	printf("  wakeups           %llu\n", U(st->wakeups));
	printf("  bufs_free         %llu\n", U(st->bufs_free));
	printf("  bufs_pending      %llu\n", U(st->bufs_pending));
}

/* One line per pool with rates since the previous report. */
static void print_line(struct pool *p, const struct zcrxdev_stats *st, double dt)
{
	const struct zcrxdev_stats *o = &p->prev;
	char comm[64];

	comm_of(p->pid, comm, sizeof(comm));
	if (!p->have_prev || dt <= 0) {
		printf("%7d %-12.12s %3d %10s %10s %9s %8s %5llu %6llu %6llu %8llu\n",
		       p->pid, comm, p->fd, "-", "-", "-", "-",
		       U(st->sockets_attached), U(st->bufs_free),
		       U(st->bufs_pending), U(st->refill_bad));
		return;
	}
	printf("%7d %-12.12s %3d %10.2f %10.2f %9.0f %8.0f %5llu %6llu %6llu %8llu\n",
	       p->pid, comm, p->fd,
	       (st->bytes_copied - o->bytes_copied) / 1e6 / dt,
	       (st->bytes_zerocopy - o->bytes_zerocopy) / 1e6 / dt,
	       (st->completions - o->completions) / dt,
	       (st->stalls - o->stalls) / dt,
	       U(st->sockets_attached), U(st->bufs_free), U(st->bufs_pending),
	       U(st->refill_bad));
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int pid = 0, only_fd = -1, interval = 0, count = 0, reports = 0, opt;
	int read_any, status = 0, i, ret;
	double t, last = 0;

	while ((opt = getopt(argc, argv, "p:f:i:c:")) != -1) {
		switch (opt) {
		case 'p': pid = atoi(optarg); break;
		case 'f': only_fd = atoi(optarg); break;
		case 'i': interval = atoi(optarg); break;
		case 'c': count = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (optind != argc || (only_fd >= 0 && pid <= 0) || interval < 0 ||
	    (count && !interval)) {
usage:
		fprintf(stderr, "usage: %s [-p PID [-f FD]] [-i SECONDS [-c COUNT]]\n",
			argv[0]);
		return 2;
	}
	if (find_device()) {
		fprintf(stderr, "zcrx_stat: the zcrx module is not loaded (no " SYSFS "/dev)\n");
		return 1;
	}

	for (;;) {
		for (i = 0; i < npools; i++)
			pools[i].seen = 0;
		if (pid > 0) {
			ret = scan_pid(pid, only_fd);
			if (ret <= 0) {
				if (only_fd >= 0)
					fprintf(stderr, "zcrx_stat: pid %d fd %d: %s\n",
						pid, only_fd, why(-ret));
				else
					fprintf(stderr, "zcrx_stat: pid %d: %s\n", pid,
						ret ? why(-ret) : "has no /dev/zcrx open");
				return 1;
			}
		} else {
			scan_all();
		}
		/* Forget descriptors that are gone. */
		for (i = 0, ret = 0; i < npools; i++)
			if (pools[i].seen)
				pools[ret++] = pools[i];
		npools = ret;

		t = now();
		if (interval && !reports)
			printf("%7s %-12s %3s %10s %10s %9s %8s %5s %6s %6s %8s\n",
			       "pid", "comm", "fd", "copied/MB", "zcopy/MB", "cqe/s",
			       "stalls/s", "socks", "free", "pending", "bad_refill");
		read_any = 0;
		for (i = 0; i < npools; i++) {
			struct zcrxdev_stats st;
			struct pool *p = &pools[i];

			if (!p->seen)
				continue;
			ret = read_stats(p->pid, p->fd, &st);
			if (ret) {
				fprintf(stderr, "zcrx_stat: pid %d fd %d: %s\n",
					p->pid, p->fd, why(-ret));
				continue;
			}
			read_any = 1;
			if (interval)
				print_line(p, &st, t - last);
			else
				print_full(p, &st);
			p->prev = st;
			p->have_prev = 1;
		}
		if (!read_any && pid <= 0)
			printf("no readable pool (no process has /dev/zcrx open, or no access)\n");
		if (pid > 0 && !read_any)
			status = 1;
		print_module();
		fflush(stdout);
		last = t;
		reports++;
		if (!interval || (count && reports >= count) || (pid > 0 && !read_any))
			break;
		sleep((unsigned int)interval);
	}
	return status;
}
