#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The Debian packages (make deb, lintian, apt install of the three into a
# throw-away overlay of the host, DKMS's build for each kernel, a guest
# booted with that module, a receiver built with pkg-config against the
# installed libzcrx-dev, apt purge), run from the repo top as a host test
# of "make check".  scripts/deb-test.sh does the work; the host is left
# unchanged.
exec scripts/deb-test.sh
