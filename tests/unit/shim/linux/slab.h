/* SPDX-License-Identifier: MIT */
/* Host shim of <linux/slab.h> for t_kring (see ../kshim.h). */
#include "../kshim.h"
