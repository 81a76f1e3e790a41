#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# timeout: 60
#
# The child that t_init_stray.sh left behind is gone: /init killed it
# when that test ended (and the guest got here at all).
. "${0%/*}/lib/tap.sh"
if [ ! -s /tmp/zcrx-stray.pid ]; then
	tap_line "ok - init.stray_killed # SKIP t_init_stray.sh did not run"
elif pid=$(cat /tmp/zcrx-stray.pid) && [ -e "/proc/$pid" ] &&
	! grep -q '^[0-9]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null; then
	tap_line "not ok - init.stray_killed: pid $(cat /tmp/zcrx-stray.pid) still runs: $(cat /proc/$pid/stat 2>/dev/null)"
else
	tap_line "ok - init.stray_killed"
fi
tap_plan
