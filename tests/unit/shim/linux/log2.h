/* SPDX-License-Identifier: MIT */
/* Host shim of <linux/log2.h> for t_kring (see ../kshim.h). */
#include "../kshim.h"
