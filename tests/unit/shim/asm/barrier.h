/* SPDX-License-Identifier: MIT */
/* Host shim of <asm/barrier.h> for t_kring (see ../kshim.h). */
#include "../kshim.h"
