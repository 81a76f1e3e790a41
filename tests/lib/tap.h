/* SPDX-License-Identifier: MIT */
/*
 * Minimal result reporting shared by the host unit tests and the guest
 * tests (tap.c).  Every check prints one line that the harness collects:
 *
 *   ok - <group>.<name>
 *   not ok - <group>.<name>: <why>
 *   ok - <group>.<name> # SKIP <why>
 *
 * and tap_exit() ends the output with the plan, "1..N" (N results): a
 * program that stops early never prints it.  The program's exit status is
 * non-zero when any check failed.
 */
#ifndef ZCRX_TESTS_TAP_H
#define ZCRX_TESTS_TAP_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tap_set_group(const char *group);
int tap_result(int ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void tap_skip(const char *name, const char *why);
/* Print the plan; the exit status: 1 if any check failed, else 0. */
int tap_exit(void);

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

#endif /* ZCRX_TESTS_TAP_H */
