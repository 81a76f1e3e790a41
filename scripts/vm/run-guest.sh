#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# run-guest.sh KERNEL_IMAGE INITRD LOGFILE [TIMEOUT_S]
#
# Boot one kernel with one initramfs in QEMU and wait for the guest to power
# itself off, for at most TIMEOUT_S seconds (default 1200).  The serial
# console (and QEMU's own messages) go to LOGFILE, without CRs and the
# firmware's terminal escapes; with V=1
# they are also copied to stderr as they arrive.
#
# Exit status: 0 when QEMU exited by itself (the guest rebooted: normal end,
# or a panic, since panic=-1 reboots at once and -no-reboot turns a reboot
# into an exit), 124 when the timeout killed it, QEMU's status otherwise.
#
# The machine has no disk and, by default, no network card: the tests use
# loopback and veth pairs inside the guest.  /dev/kvm cannot run these
# kernels, so QEMU emulates with TCG, one host thread per virtual CPU.
# ZCRX_APPEND adds kernel command line parameters (e.g. zcrx_tests=t_foo).
# ZCRX_QEMU_NET replaces "-nic none" with these QEMU arguments (words; the
# benchmark's nic link: "-netdev tap,... -device virtio-net-pci,...").
# ZCRX_QEMU_CPU picks the CPU model: "max" (TCG's default here), "default"
# (no -cpu: QEMU's own default, qemu64), or any model QEMU knows.
set -euo pipefail

if [[ $# -lt 3 || $# -gt 4 ]]; then
	echo "usage: $0 KERNEL_IMAGE INITRD LOGFILE [TIMEOUT_S]" >&2
	exit 2
fi
kernel=$1 initrd=$2 log=$3 limit=${4:-1200}
for f in "$kernel" "$initrd"; do
	[[ -r $f ]] || { echo "run-guest.sh: cannot read $f" >&2; exit 2; }
done

# panic_on_warn/oops=panic: the first WARN or oops ends the run, so the
# log shows it instead of a later confusing failure.  loglevel=5 prints
# KERN_WARNING and worse: at 4 the console would drop the "cut here" and
# "WARNING: CPU: ... at file:line" lines of a WARN (and lockdep's and
# kmemleak's reports), leaving only the panic.  A Debian boot prints fewer
# than ten such lines, none of them alarming.
append="console=ttyS0 panic=-1 panic_on_warn=1 oops=panic loglevel=5"
append+=" rdinit=/init ${ZCRX_APPEND:-}"

# ACCEL=kvm for a host whose KVM can run these kernels (this workplace's
# cannot); TCG otherwise.
case ${ACCEL:-tcg} in
tcg) accel=tcg,thread=multi cpu=max ;;
kvm) accel=kvm cpu=host ;;
*) echo "run-guest.sh: ACCEL must be tcg or kvm" >&2; exit 2 ;;
esac
cpu=${ZCRX_QEMU_CPU:-$cpu}
cpu_args=(-cpu "$cpu")
[[ $cpu != default ]] || cpu_args=()
read -ra net_args <<<"${ZCRX_QEMU_NET:--nic none}"

# shellcheck disable=SC2054 # the commas are QEMU option syntax
qemu=(
	qemu-system-x86_64
	-accel "$accel" "${cpu_args[@]}" -smp 2 -m 2048
	-nographic -no-reboot "${net_args[@]}"
	-kernel "$kernel" -initrd "$initrd" -append "$append"
)

mkdir -p "$(dirname "$log")"
if [[ ${V:-0} == 1 ]]; then
	sink() { tee "$log" >&2; }
else
	sink() { cat >"$log"; }
fi

# stdin from /dev/null: -nographic would otherwise put the terminal in raw
# mode and feed keystrokes to the guest.  --foreground keeps QEMU in our
# process group so Ctrl-C stops it too.  KILL 10 s after TERM if needed.
# QEMU exits with status 0 when Ctrl-C kills it: do not report that as a
# normal end.
trap 'exit 130' INT
rc=0
timeout --foreground --kill-after=10 "$limit" "${qemu[@]}" </dev/null 2>&1 |
	sed -u -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' |
	sink || rc=$?

# 137: timeout had to escalate to KILL; still a timeout.
[[ $rc -eq 137 ]] && rc=124
exit "$rc"
