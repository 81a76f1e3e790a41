// SPDX-License-Identifier: MIT
/* Helpers shared by the guest tests (see util.h). */
#include "util.h"

long sysfs_long(const char *name)
{
	char path[256], buf[64];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), ZCRX_SYSFS "%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		v = strtol(buf, NULL, 10);
	fclose(f);
	return v;
}

long xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

int zcrx_open_dev(void)
{
	return open("/dev/zcrx", O_RDWR | O_CLOEXEC);
}

void setup_args(struct zcrxdev_setup *s, unsigned int nr_bufs,
		unsigned int buf_size)
{
	memset(s, 0, sizeof(*s));
	s->nr_bufs = nr_bufs;
	s->buf_size = buf_size;
}

long sysfs_wait(const char *name, long want, int ms)
{
	long v = sysfs_long(name);

	while (v != want && ms > 0) {
		usleep(10000);
		ms -= 10;
		v = sysfs_long(name);
	}
	return v;
}

bool wait_flag(const int *flag, int ms)
{
	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE) && ms > 0) {
		usleep(10000);
		ms -= 10;
	}
	return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int tcp_pair(int family, int *cli, int *srv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int l, c, s, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	l = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -errno;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&ss, len) || listen(l, 128) ||
	    getsockname(l, (struct sockaddr *)&ss, &len))
		goto err;
	c = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		goto err;
	if (connect(c, (struct sockaddr *)&ss, len)) {
		close(c);
		goto err;
	}
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0) {
		close(c);
		goto err;
	}
	close(l);
	*cli = c;
	*srv = s;
	return 0;
err:
	one = -errno;
	close(l);
	return one;
}

void pattern_fill(uint64_t seed, uint64_t pos, uint8_t *buf,
		  size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern_byte(seed, pos + i);
}

size_t pattern_check(uint64_t seed, uint64_t pos,
		     const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != pattern_byte(seed, pos + i))
			return i;
	return len;
}

int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

void __attribute__((noreturn))
sender_child(int fd, uint64_t seed, uint64_t total, size_t wsize, int close_how)
{
	uint8_t *buf = malloc(wsize);
	uint64_t pos;
	size_t n;

	if (!buf)
		_exit(3);
	for (pos = 0; pos < total; pos += n) {
		n = total - pos < wsize ? total - pos : wsize;
		pattern_fill(seed, pos, buf, n);
		if (write_all(fd, buf, n))
			_exit(2);
	}
	if (close_how == SHUT_WR)
		shutdown(fd, SHUT_WR);
	_exit(0);
}

pid_t spawn_sender(int fd, uint64_t seed, uint64_t total,
		   size_t wsize, int close_how)
{
	pid_t pid = fork();

	if (!pid)
		sender_child(fd, seed, total, wsize, close_how);
	return pid;
}

size_t splice_out(const void *p, size_t len, int fd)
{
	struct iovec iov = { (void *)p, len };
	size_t sent = 0;
	ssize_t r, n;
	int pp[2];

	if (pipe(pp))
		return 0;
	r = vmsplice(pp[1], &iov, 1, 0);
	while (r > 0 && sent < (size_t)r) {
		n = splice(pp[0], NULL, fd, NULL, r - sent, 0);
		if (n <= 0)
			break;
		sent += n;
	}
	close(pp[0]);
	close(pp[1]);
	return sent;
}

int sysctl_int(const char *path, int val)
{
	char buf[32];
	int old = -1;
	FILE *f = fopen(path, "r+");

	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		old = atoi(buf);
	rewind(f);
	fprintf(f, "%d\n", val);
	fclose(f);
	return old;
}

void kick_cpus_net_rx(void)
{
	long cpu, ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int a, b, i;
	char ch;
	pid_t pid;

	for (cpu = 0; cpu < ncpu; cpu++) {
		pid = fork();
		if (pid < 0)
			return;
		if (!pid) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			if (sched_setaffinity(0, sizeof(set), &set) ||
			    tcp_pair(AF_INET, &a, &b))
				_exit(1);
			for (i = 0; i < 4; i++)
				if (write(a, "k", 1) != 1 || read(b, &ch, 1) != 1)
					_exit(1);
			_exit(0);
		}
		waitpid(pid, NULL, 0);
	}
}
