/* SPDX-License-Identifier: MIT */
/*
 * A userfaultfd page for the guest tests: a thread that touches it from the
 * kernel (a send() under the socket lock, a CLAIM's copy_to_user()) sleeps
 * there until the test lets it go.
 */
#ifndef ZCRX_TESTS_UFFD_H
#define ZCRX_TESTS_UFFD_H

#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PG
#define PG	4096u
#endif

/* A userfaultfd with one registered, never-touched anonymous page. */
struct uffd_page {
	int	fd;
	uint8_t	*page;
};

/* 0, or -errno when userfaultfd cannot be had (the test is skipped). */
static inline int uffd_page_init(struct uffd_page *u)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	int r;

	u->page = MAP_FAILED;
	u->fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (u->fd < 0)
		return -errno;
	if (ioctl(u->fd, UFFDIO_API, &api))
		goto err;
	u->page = mmap(NULL, PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (u->page == MAP_FAILED)
		goto err;
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)u->page;
	reg.range.len = PG;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(u->fd, UFFDIO_REGISTER, &reg))
		goto err;
	return 0;
err:
	r = -errno;
	if (u->page != MAP_FAILED)
		munmap(u->page, PG);
	close(u->fd);
	u->fd = -1;
	return r;
}

/* Has a thread faulted on the page (and is it now asleep there)? */
static inline bool uffd_fault_seen(struct uffd_page *u, int ms)
{
	struct pollfd pfd = { .fd = u->fd, .events = POLLIN };
	struct uffd_msg msg;

	if (poll(&pfd, 1, ms) <= 0 || read(u->fd, &msg, sizeof(msg)) != sizeof(msg))
		return false;
	return msg.event == UFFD_EVENT_PAGEFAULT;
}

static inline void uffd_page_free(struct uffd_page *u)
{
	if (u->fd >= 0)
		close(u->fd);
	if (u->page != MAP_FAILED)
		munmap(u->page, PG);
}

#endif /* ZCRX_TESTS_UFFD_H */
