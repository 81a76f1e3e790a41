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
int uffd_page_init(struct uffd_page *u);

/* Has a thread faulted on the page (and is it now asleep there)? */
bool uffd_fault_seen(struct uffd_page *u, int ms);

void uffd_page_free(struct uffd_page *u);

#endif /* ZCRX_TESTS_UFFD_H */
