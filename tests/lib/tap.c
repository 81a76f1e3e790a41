// SPDX-License-Identifier: MIT
/* Result lines and the plan (see tap.h). */
#include "tap.h"

static int tap_failed;
static unsigned int tap_count;
static const char *tap_group = "test";

void tap_set_group(const char *group)
{
	tap_group = group;
}

int tap_result(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
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

void tap_skip(const char *name, const char *why)
{
	tap_count++;
	printf("ok - %s.%s # SKIP %s\n", tap_group, name, why);
	fflush(stdout);
}

int tap_exit(void)
{
	printf("1..%u\n", tap_count);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}
