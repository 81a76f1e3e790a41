// SPDX-License-Identifier: MIT
/* See uffd.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>

#include "uffd.h"

int uffd_page_init(struct uffd_page *u)
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

bool uffd_fault_seen(struct uffd_page *u, int ms)
{
	struct pollfd pfd = { .fd = u->fd, .events = POLLIN };
	struct uffd_msg msg;

	if (poll(&pfd, 1, ms) <= 0 || read(u->fd, &msg, sizeof(msg)) != sizeof(msg))
		return false;
	return msg.event == UFFD_EVENT_PAGEFAULT;
}

void uffd_page_free(struct uffd_page *u)
{
	if (u->fd >= 0)
		close(u->fd);
	if (u->page != MAP_FAILED)
		munmap(u->page, PG);
}
