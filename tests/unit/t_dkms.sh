#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The DKMS path (make dkms-install, dkms add/build/install on each Debian
# kernel, a guest booted with the installed module, dkms remove), run from
# the repo top as a host test of "make check".  scripts/dkms-test.sh does
# the work in a private mount namespace: the host is left unchanged.
exec scripts/dkms-test.sh
