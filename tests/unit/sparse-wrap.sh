#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# sparse for Debian's 7.x headers (tests/unit/t_static.sh gives it to kbuild
# as CHECK).  Debian's sparse, 0.6.4, predates two things 7.x headers use:
#   - __typeof_unqual__: read as __typeof__ (they differ only in dropping
#     qualifiers, which sparse does not need to check our code);
#   - __builtin_strlen() in a constant expression: MODULE_INFO() asserts
#     sizeof(info) - 1 == __builtin_strlen(info) on a string literal, which
#     sparse 0.6.4 calls "bad constant expression" and then, having seen an
#     error, stops reporting the file's warnings.  For a literal it is
#     sizeof(s) - 1.
exec sparse -D__typeof_unqual__=__typeof__ '-D__builtin_strlen(s)=(sizeof(s) - 1)' "$@"
