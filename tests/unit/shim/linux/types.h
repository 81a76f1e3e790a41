/* SPDX-License-Identifier: MIT */
/*
 * Host shim of <linux/types.h> for t_kring: the host's UAPI types (__u32,
 * which linux/zcrxdev.h uses), then the kernel's (see ../kshim.h).
 */
#include_next <linux/types.h>
#include "../kshim.h"
