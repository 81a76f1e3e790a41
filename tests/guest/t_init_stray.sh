#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# timeout: 60
#
# A test that dies and leaves a child behind (a sender still writing, its
# end of the output pipe open) must not keep the guest waiting for good:
# /init kills what a test leaves behind when the test ends.  This one
# leaves an hour's sleep holding its stdout; t_init_stray_gone.sh, run
# next, checks that it is gone.  Before /init did so, the guest ran into
# its own timeout here.
. "${0%/*}/lib/tap.sh"
sleep 3600 &
echo $! >/tmp/zcrx-stray.pid
if kill -0 "$(cat /tmp/zcrx-stray.pid)" 2>/dev/null; then
	tap_line "ok - init.stray_left_running"
else
	tap_line "not ok - init.stray_left_running: the child did not start"
fi
tap_plan
