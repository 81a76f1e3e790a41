/* SPDX-License-Identifier: MIT */
/*
 * Minimal result reporting shared by the host unit tests and the guest
 * tests.  Every check prints one line that the harness collects:
 *
 *   ok - <group>.<name>
 *   not ok - <group>.<name>: <why>
 *   ok - <group>.<name> # SKIP <why>
 *
 * The program's exit status is non-zero when any check failed.
 */
#ifndef ZCRX_TESTS_TAP_H
#define ZCRX_TESTS_TAP_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_failed;
static const char *tap_group = "test";

static inline void tap_set_group(const char *group)
{
	tap_group = group;
}

static inline int tap_result(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("ok - %s.%s\n", tap_group, name);
	} else {
		tap_failed = 1;
		printf("not ok - %s.%s: ", tap_group, name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
	return ok;
}

static inline void tap_skip(const char *name, const char *why)
{
	printf("ok - %s.%s # SKIP %s\n", tap_group, name, why);
	fflush(stdout);
}

/* Diagnostics go to stderr so they never look like a result line. */
#define tap_diag(...) do { fprintf(stderr, "# " __VA_ARGS__); fputc('\n', stderr); } while (0)

/* CHECK(name, cond, fmt, ...): report one named check, return its truth. */
#define CHECK(name, cond, ...) tap_result(!!(cond), (name), __VA_ARGS__)

/* CHECK_ERR(name, expr, err): expr must return -err (libzcrx style). */
#define CHECK_ERR(name, expr, err) ({					\
	long __r = (long)(expr);					\
	tap_result(__r == -(long)(err), (name),				\
		   "expected -%s, got %ld (%s)", strerrorname_np(err),	\
		   __r, __r < 0 ? strerror((int)-__r) : "success");	\
})

static inline int tap_exit(void)
{
	return tap_failed ? 1 : 0;
}

#endif /* ZCRX_TESTS_TAP_H */
