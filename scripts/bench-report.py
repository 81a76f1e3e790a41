#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""bench-report.py: what scripts/bench.sh does with a benchmark log.

  scripts/bench-report.py -o OUT [options] LOG

LOG is the guest's console (or the output of scripts/bench-guest.sh run on
a host): its BENCHINFO key=value, BENCHMEM, BENCHHDR and BENCHCSV lines,
bare or behind the guest's "@@ZCRX@@ |" and "# ", CRs and all.  LOG.monitor
(scripts/bench.sh's monitor_guest: "UPTIME HOST_BUSY QEMU_CPU NCSV" once a
second) gives each run the share of the host's CPUs other work used
meanwhile.  Written into OUT, replacing what was there:

  runs.csv        every run of the receive matrix, with host_other_pct
  results.csv     per cell (link, write size, connections, method): median,
                  min and max over the runs that passed, per GiB
  memcpy.csv      the BENCHMEM lines
  zc-runs.csv, zc-results.csv
                  the same two for the zero-copy paths (the BENCHCSV lines
                  whose link is lo@MODE), with a sender column and, in
                  zc-results.csv, mapped_pct
  results.md      every table, the issues' targets checked
  chart.png       throughput and whole-guest CPU per GiB, by gnuplot (none
                  without it)

The figures keep the arithmetic of the awk programs bench.sh used to run:
numbers in the CSV files are printed as awk's %.6g, and the values the awk
carried through strings (the paired ratios, the per-byte CPU of a run) are
rounded the same way, so the same log gives the same files.

Exit status: 0; 3 when a run's status is not "ok" (every file is written
all the same); 1 when there is nothing to aggregate.
"""
import argparse
import collections
import csv
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

GIB = 1073741824
FAILED_RUNS = 3
QUIET_DEFAULT = "10"


def log(msg):
    print(f"bench: {msg}", file=sys.stderr)


class Abort(Exception):
    """Nothing sensible can be written: the message says why."""


# --- awk's number semantics ----------------------------------------------------

_NUM = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def num(s):
    """A string's numeric value as awk sees it: its longest numeric prefix, or 0."""
    if isinstance(s, (int, float)):
        return float(s)
    m = _NUM.match(s or "")
    return float(m.group(0)) if m else 0.0


def g6(x):
    """%.6g: how the CSV files print figures."""
    return "%.6g" % x


def via_string(x):
    """A number after awk turned it into a string (CONVFMT) and back."""
    if x == int(x) and abs(x) < 2**53:
        return float(int(x))
    return float(g6(x))


def fixed(x, d):
    """An awk %.Nf of a CSV field: "-" when empty."""
    return "-" if x in ("", None) else "%.*f" % (d, num(x))


def pct(x):
    return "-" if x in ("", None) else "%.0f%%" % num(x)


def ratio(a, b):
    if a in ("", None) or b in ("", None) or num(b) <= 0:
        return "-"
    return "%.2f" % (num(a) / num(b))


def median_range(values):
    """(median, min, max) of numbers; medians of even counts are the mean of the middle two."""
    v = sorted(values)
    return statistics.median(v), v[0], v[-1]


def wsize_bytes(w):
    """A write size word (4k, 64k, 1m, 512) in bytes, as bench-guest.sh reads it."""
    m = re.fullmatch(r"(\d+)([kKmM]?)", w)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1048576}[m.group(2).lower()]


def unique(seq):
    """The distinct items of seq, in the order they first appear."""
    return list(dict.fromkeys(seq))


# --- The log --------------------------------------------------------------------

_LINE = re.compile(r"^(?:@@ZCRX@@ \|)?(?:# )?(BENCHINFO|BENCHMEM|BENCHHDR|BENCHCSV) (.*)$", re.S)


def read_log(path):
    """{kind: [line, ...]} of the BENCH* lines, prefixes and CRs removed."""
    kinds = {"BENCHINFO": [], "BENCHMEM": [], "BENCHHDR": [], "BENCHCSV": []}
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for line in f.read().split("\n"):
            m = _LINE.match(line)
            if m:
                kinds[m.group(1)].append(m.group(2).replace("\r", ""))
    return kinds


def info_of(lines):
    info = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep:
            info.setdefault(key, value)
    return info


def read_monitor(path):
    """The monitor's samples as (uptime, host busy, QEMU CPU, BENCHCSV lines so far)."""
    samples = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                f4 = (line.split() + ["", "", "", ""])[:4]
                samples.append(tuple(num(x) for x in f4))
    except OSError:
        pass
    return samples


TX_HEADER = "link,wsize,conns,method,run,tx_status,tx_wall_s,tx_user_s,tx_sys_s,tx_host_cpu"


def read_tx(path):
    """The nic links' host senders (scripts/bench.sh's nic_send, LOG.tx): rows of
    TX_HEADER without it, keyed by (link, wsize, conns, method, run)."""
    rows = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                fields = line.split(",")
                if len(fields) == 10:
                    rows[tuple(fields[:5])] = line
    except OSError:
        return None
    return rows


def tx_cpu(row):
    """A tx.csv row's sender CPU seconds (user + system)."""
    f = row.split(",")
    return num(f[7]) + num(f[8])


def host_other_pct(samples, index, secs, ncpu, own=0.0):
    """The share of the host's CPUs (%) others used during BENCHCSV line INDEX (1-based)
    that took SECS: from the sample one before it started to the first after it ended.
    OWN: CPU seconds of our own on the host (a nic link's sender), not others'."""
    n = len(samples)
    e = 0
    while e < n and samples[e][3] < index:
        e += 1
    if e >= n or e == 0:
        return ""
    s = e - 1
    while s > 0 and samples[s][0] > samples[e][0] - secs - 1:
        s -= 1
    (te, be, qe, _), (ts, bs, qs, _) = samples[e], samples[s]
    if te <= ts:
        return ""
    other = max((be - bs) - (qe - qs) - own, 0)
    return "%.0f" % (100 * other / ((te - ts) * ncpu))


# --- CSV files ------------------------------------------------------------------

def write_lines(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)


def read_table(path):
    """The rows of a CSV file as dicts (missing fields empty)."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, restval=""))


def fields_of(line):
    return next(csv.reader([line]))


def split_sender(line, header=False):
    """"lo@MODE,..." -> "lo,MODE,...": the zero-copy paths' sender gets a column."""
    if header:
        return re.sub(r"^link,", "link,sender,", line)
    return re.sub(r"^([^,@]*)@([^,]*),", r"\1,\2,", line, count=1)


# summarize's figures: (column prefix in results.csv, the value of one run).
def _per_gib(field):
    return lambda run, gib: num(run[field]) / gib


def _share(field):
    return lambda run, gib: 100 * num(run[field]) / num(run["bytes"])


def _mapped(run, gib):
    if run["method"] == "tcpzc":
        mapped = num(run["zerocopy"])
    else:
        m = re.search(r"(?:^|;)mapped=([0-9]+)", run.get("extra", ""))
        mapped = float(m.group(1)) if m else 0.0
    return 100 * mapped / num(run["bytes"])


FIGURES = [
    ("mbps", lambda run, gib: num(run["mbps"])),
    ("guest_cpu_s_per_gib", _per_gib("guest_cpu")),
    ("guest_user_s_per_gib", _per_gib("guest_user")),
    ("guest_sys_s_per_gib", _per_gib("guest_sys")),
    ("guest_irq_s_per_gib", _per_gib("guest_irq")),
    ("guest_ticks_s_per_gib", _per_gib("guest_ticks")),
    ("rx_core_s_per_gib", _per_gib("rx_core")),
    ("rx_cpu_s_per_gib", _per_gib("rx_cpu")),
    ("syscalls_per_gib", _per_gib("syscalls")),
    ("copied_pct", _share("copied")),
    ("zerocopy_pct", _share("zerocopy")),
]
MAPPED_FIGURE = ("mapped_pct", _mapped)
HOST_FIGURE = "host_other_pct"


def summarize(header, lines, mapped):
    """results.csv's lines from runs.csv's: per cell (link, write size,
    connections, method) the median, min and max of every figure over the
    runs that passed; mapped adds mapped_pct."""
    figures = FIGURES + ([MAPPED_FIGURE] if mapped else [])
    names = [n for n, _ in figures] + [HOST_FIGURE]
    cells = {}		# key -> {"ok": n, "failed": n, figure: [values]}
    for line in lines:
        run = collections.defaultdict(str, zip(header, fields_of(line)))
        key = (run["link"], run["wsize"], run["conns"], run["method"])
        cell = cells.setdefault(key, {"ok": 0, "failed": 0, **{n: [] for n in names}})
        gib = num(run["bytes"]) / GIB
        if run["status"] != "ok" or gib <= 0:
            cell["failed"] += 1
            continue
        cell["ok"] += 1
        for name, value in figures:
            cell[name].append(value(run, gib))
        if run.get(HOST_FIGURE, "") != "":
            cell[HOST_FIGURE].append(num(run[HOST_FIGURE]))
    out = [",".join(["link,wsize,conns,method,runs_ok,runs_failed"] +
                    [f"{n}_med,{n}_min,{n}_max" for n in names])]
    for key, cell in cells.items():
        row = list(key) + [str(cell["ok"]), str(cell["failed"])]
        for n in names:
            row += map(g6, median_range(cell[n])) if cell[n] else ["", "", ""]
        out.append(",".join(row))
    return out


# --- results.md -----------------------------------------------------------------

class Report:
    def __init__(self, args, out, info):
        self.args = args
        self.out = out
        self.info = info
        self.quiet = args.quiet_pct
        self.results = read_table(os.path.join(out, "results.csv"))
        self.runs = read_table(os.path.join(out, "runs.csv"))
        zc = os.path.join(out, "zc-results.csv")
        self.zc_results = read_table(zc) if os.path.exists(zc) else None
        self.zc_runs = read_table(os.path.join(out, "zc-runs.csv")) if self.zc_results is not None else []
        self.memcpy = read_table(os.path.join(out, "memcpy.csv"))
        tx = os.path.join(out, "tx.csv")
        self.tx = read_table(tx) if os.path.exists(tx) else []
        self.have_host = any(r.get("host_other_pct", "") != "" for r in self.runs)
        self.methods = unique(r["method"] for r in self.results)
        self.cells = unique((r["link"], r["wsize"], r["conns"]) for r in self.results)
        self.med = {(r["link"], r["wsize"], r["conns"], r["method"]): r for r in self.results}
        self.pairs = self._runs_by_repetition()

    def i(self, key):
        return self.info.get(key, "")

    # -- header
    def header(self):
        a = self.args
        try:
            mib = str(int(self.i("mem_kib")) // 1024)
        except ValueError:
            mib = "?"
        model = ""
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                for line in f:
                    m = re.match(r"model name\s*: (.*)", line.rstrip("\n"))
                    if m:
                        model = m.group(1)
                        break
        except OSError:
            pass
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        y = ["<!-- SPDX-License-Identifier: GPL-2.0 -->",
             "# zcrx receive benchmark: results",
             "",
             f"Generated by `scripts/bench.sh` on {when}; see",
             "[docs/benchmarks.md](../../docs/benchmarks.md) for the method and the reading.",
             "",
             f"* kernel: {self.i('kernel')} ({a.accel or '?'}), {self.i('cpus')} CPUs ({self.i('cpu_model')}), {mib} MiB",
             f"* host: {a.host_cpus} CPUs, {model}",
             f"* runs per cell: {self.i('runs')}; MiB per run: {self.i('mib_per_run')} ({self.i('mib_per_run_4k')} at 4 KiB writes), split over the connections",
             f"* receiver on CPU {self.i('rx_cpu')}, sender on CPU {self.i('tx_cpu')}; lo MTU {self.i('lo_mtu')}, veth MTU {self.i('veth_mtu')}"]
        if self.i("qemu_cpu"):
            y.append(f"* QEMU CPU model: {self.i('qemu_cpu')}")
        if self.i("nic") == "1":
            tx_cpus = unique(r["tx_host_cpu"] for r in self.tx)
            y.append(f"* nic links: virtio-net on a tap (no vhost), MTUs {self.i('nic_mtus')}, layouts "
                     f"{self.i('nic_layouts')} (split: interrupts on CPU {self.i('nic_irq_cpu')}); offloads "
                     f"{self.i('nic_offloads')}, negotiated: {self.i('nic_features')}; RPS {self.i('nic_rps')}; "
                     f"the sender runs on the host, CPU {','.join(tx_cpus)}")
        if a.aggregate_only or a.elapsed is None:
            y.append(f"* time of the matrix itself: {self.i('seconds')} s")
        else:
            took = a.elapsed + int(time.monotonic() - a.started)
            y.append(f"* time of the matrix itself: {self.i('seconds')} s; of scripts/bench.sh: {took} s")
        if a.host_other:
            y.append(f"* CPU used by other work on the host during the guest run: {a.host_other}")
        y.append("")
        if self.memcpy:
            cols = list(self.memcpy[0].keys())[1:4]
            large, small, verify = (
                "%.0f (%.0f-%.0f)" % median_range([num(r[c]) for r in self.memcpy]) for c in cols)
            y += ["Single-thread bandwidth on the receiver's CPU, MB/s, median (min-max):",
                  f"memcpy 64 MiB -> 64 MiB **{large}**; memcpy 256 KiB (in cache)",
                  f"{small}; the check every receiver makes (one byte per 64-byte line)",
                  f"{verify}.",
                  ""]
        return y

    # -- cell x method matrices
    def matrix(self, title, corner, rows, methods, value):
        """A table: a row per item of rows (its corner cells), a column per method."""
        y = ["", f"{title}:", "",
             "| " + " | ".join(corner) + " |" + "".join(f" {m} |" for m in methods),
             "| " + " | ".join(["---"] * (len(corner) - 1) + [
                 "---:" if corner[-1] == "conns" else "---"]) + " |" + " ---: |" * len(methods)]
        for row in rows:
            y.append("| " + " | ".join(row) + " |" + "".join(f" {value(row, m)} |" for m in methods))
        return y

    def summary(self):
        y = ["## Summary (medians)"]
        for field, title, d in (("mbps", "MB/s", 0), ("guest_cpu_s_per_gib", "whole-guest CPU s/GiB", 2),
                                ("rx_cpu_s_per_gib", "receiving process CPU s/GiB", 2),
                                ("syscalls_per_gib", "receive-loop syscalls/GiB", 0)):
            y += self.matrix(title, ("link", "write", "conns"), self.cells, self.methods,
                             lambda c, m: fixed(self.med.get(c + (m,), {}).get(field + "_med"), d))
        if self.have_host:
            y += ["", "Medians over the quiet runs only (other work used at most",
                  f"{self.quiet}% of the host's CPUs during the run), with their number:"]
            y += self.quiet_matrix("mbps", "MB/s", 0)
            y += self.quiet_matrix("guest_cpu", "whole-guest CPU s/GiB", 2)
        return y

    def quiet_matrix(self, field, title, d):
        cells = unique((r["link"], r["wsize"], r["conns"]) for r in self.runs)
        methods = unique(r["method"] for r in self.runs)
        lists = {}
        for r in self.runs:
            if r["status"] != "ok" or r["host_other_pct"] == "" or \
                    num(r["host_other_pct"]) > num(self.quiet) or num(r["bytes"]) <= 0:
                continue
            x = num(r[field])
            if field == "guest_cpu":
                x = via_string(x / (num(r["bytes"]) / GIB))
            lists.setdefault((r["link"], r["wsize"], r["conns"], r["method"]), []).append(x)

        def value(c, m):
            v = lists.get(c + (m,))
            return "%.*f (%d)" % (d, statistics.median(sorted(v)), len(v)) if v else "-"
        return self.matrix(f"{title}, quiet runs", ("link", "write", "conns"), cells, methods, value)

    def all_figures(self):
        y = ["", "## All figures", "",
             "Every figure: median over the runs, (min-max). CPU and system calls are",
             "per GiB received. *guest CPU*: all CPUs of the machine (user + system +",
             "irq/softirq, /proc/stat); *rx CPU*: the receiving process (getrusage);",
             "*syscalls*: counted by the receiver in its receive loop. *vs recv*: guest",
             "CPU/GiB divided by recv()'s in the same cell. *zero-copy*: share of bytes",
             "mapped (tcpzc) or placed in pool pages (zcrx) instead of copied. *host busy*:",
             "share of the host's CPUs that other work (other QEMU guests) used during",
             "the runs, median; the guest's figures degrade with it."]
        for link, conns in unique((r["link"], r["conns"]) for r in self.results):
            n = int(num(conns))
            y += ["", f"### {'loopback' if link == 'lo' else link}, {n} connection{'' if num(conns) == 1 else 's'}", "",
                  "| write | method | MB/s | guest CPU s/GiB | rx CPU s/GiB | syscalls/GiB | zero-copy | vs recv | runs | host busy |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
            for r in self.results:
                if (r["link"], r["conns"]) != (link, conns):
                    continue
                base = self.med.get((link, r["wsize"], conns, "recv"), {}).get("guest_cpu_s_per_gib_med", "")
                cpu = r["guest_cpu_s_per_gib_med"]
                vs = "%.2f" % (num(cpu) / num(base)) if base != "" and num(base) > 0 and cpu != "" else "-"
                zc = "n/a" if r["method"] == "splice" else pct(r["zerocopy_pct_med"])
                y.append(f"| {r['wsize']} | {r['method']} | {spread(r, 'mbps', 0)} | "
                         f"{spread(r, 'guest_cpu_s_per_gib', 2)} | {spread(r, 'rx_cpu_s_per_gib', 2)} | "
                         f"{spread(r, 'syscalls_per_gib', 0)} | {zc} | {vs} | {runs_of(r)} | "
                         f"{pct(r['host_other_pct_med'])} |")
        return y

    # -- paired ratios
    def _runs_by_repetition(self):
        """{(cell, method, run): (MB/s, CPU per byte, syscalls per byte, host busy)} of
        the runs that passed; the per-byte figures rounded as the awk's were."""
        pairs = {}
        self.maxrun = 0
        for r in self.runs:
            if r["status"] != "ok":
                continue
            self.maxrun = max(self.maxrun, num(r["run"]))
            b = num(r["bytes"])
            if b <= 0:
                continue
            pairs[((r["link"], r["wsize"], r["conns"]), r["method"], r["run"])] = {
                "mbps": num(r["mbps"]),
                "cpu": via_string(num(r["guest_cpu"]) / b),
                "syscalls": via_string(num(r["syscalls"]) / b),
                "busy": r.get("host_other_pct", "")}
        return pairs

    def paired(self, cell, a, b, field, quiet, scale=1):
        """(median, min, max, pairs) over the repetitions r of a's field / b's in
        cell (run r of a with run r of b); with quiet >= 0 only the pairs during
        which other work used at most quiet % of the host; None without pairs."""
        values = []
        for r in range(1, int(self.maxrun) + 1):
            x = self.pairs.get((cell, a, str(r)))
            y = self.pairs.get((cell, b, str(r)))
            if x is None or y is None:
                continue
            if quiet >= 0 and any(p["busy"] == "" or num(p["busy"]) > quiet for p in (x, y)):
                continue
            if y[field] > 0:
                values.append(via_string(scale * x[field] / y[field]))
        return median_range(values) + (len(values),) if values else None

    def issue_targets(self, quiet):
        """The first issue's table: zcrx-poll, -busy and -batch against recv,
        uring and the best other method of the cell."""
        best = {}
        for r in self.results:
            cell = (r["link"], r["wsize"], r["conns"])
            m = r["mbps_med"]
            if r["method"] != "splice" and not r["method"].startswith("zcrx") and m != "" \
                    and num(m) > num(best.get(cell, ("0", ""))[0]):
                best[cell] = (m, r["method"])

        def show(x, d):
            return "%.*f (%.*f-%.*f%s)" % (d, x[0], d, x[1], d, x[2], f", n={x[3]}" if quiet >= 0 else "")
        y = ["| link | write | conns | CPU vs recv | zcrx-batch CPU vs recv | CPU vs uring | zcrx-poll MB/s vs best peer | zcrx-busy MB/s vs best peer | syscalls vs recv | zcrx-busy syscalls vs recv |",
             "| --- | --- | ---: | --- | --- | --- | --- | --- | --- | --- |"]
        for cell in self.cells:
            small = cell[1] == "4k"
            lim = 0.7 if small else 0.8
            x = self.paired(cell, "zcrx-poll", "recv", "cpu", quiet)
            s1 = "-" if x is None else f"{show(x, 2)} (<= {lim}) {mark(x[0] <= lim)}"
            x = self.paired(cell, "zcrx-batch", "recv", "cpu", quiet)
            sb = "-" if x is None else f"{show(x, 2)} {mark(x[0] <= lim)}"
            x = self.paired(cell, "zcrx-poll", "uring", "cpu", quiet)
            s2 = "-" if x is None else show(x, 2) + (" (no target)" if small else f" (<= 0.9) {mark(x[0] <= 0.9)}")
            peer = {}
            for m in ("zcrx-poll", "zcrx-busy"):
                x = self.paired(cell, m, best[cell][1], "mbps", quiet) if cell in best else None
                peer[m] = "-" if x is None else f"{show(x, 2)} of {best[cell][1]} {mark(x[0] >= 1)}"
            sys_ = {}
            for m in ("zcrx-poll", "zcrx-busy"):
                x = self.paired(cell, m, "recv", "syscalls", quiet, 100)
                sys_[m] = "-" if x is None else f"{show(x, 1)}% {mark(x[0] < 1)}"
            y.append(f"| {cell[0]} | {cell[1]} | {cell[2]} | {s1} | {sb} | {s2} | {peer['zcrx-poll']} | "
                     f"{peer['zcrx-busy']} | {sys_['zcrx-poll']} | {sys_['zcrx-busy']} |")
        return y

    def targets(self):
        y = ["", "## The issue's targets for zcrx (copy mode)", "",
             "Ratios are paired: taken between runs of the same repetition (the methods of",
             "one cell run back to back, so they share the host's load of the moment),",
             "then the median over the repetitions, (min-max). *CPU*: whole-guest",
             "CPU/GiB of zcrx-poll divided by recv()'s (target <= 0.8 at >= 64 KiB",
             "writes, <= 0.7 at 4 KiB), the same for zcrx-batch (zcrx_wait_nr(): one",
             "wakeup per 16 completions or 1 ms), and by io_uring multishot's (target <= 0.9 at",
             ">= 64 KiB). *MB/s*: zcrx-poll and zcrx-busy divided by the best other",
             "method of the cell (best median throughput among those whose data the",
             "process checks: splice to /dev/null never reads its bytes and is left",
             "out); target >= 1. *syscalls*: zcrx-poll's (and zcrx-busy's) receive-loop",
             "system calls per GiB divided by recv()'s (target < 1%).",
             ""]
        y += self.issue_targets(-1)
        if self.have_host:
            y += ["", "The same, from the pairs of runs during which other work used at most",
                  f"{self.quiet}% of the host's CPUs (n: pairs, of the repetitions):", ""]
            y += self.issue_targets(num(self.quiet))
        rules = [t for t in TARGETS_IOU if t.num in self.methods and t.den in self.methods
                 and any(t.where(c) for c in self.cells)]
        if rules and IOU_METHODS & set(self.methods):
            y += ["", "## The targets against io_uring zero-copy receive", "",
                  "Paired ratios as above, with the number of pairs: *MB/s* and *CPU*",
                  "(whole-guest CPU/GiB) of zcrx-defer, zcrx-batch and zcrx-poll divided by",
                  "io_uring zero-copy receive's (iouzcrx-batch, iouzcrx), and by recv()'s;",
                  "*syscalls*: receive-loop system calls per GiB. A column is left out when",
                  "its two methods are not in the data, a row when no target has both its",
                  "methods in the cell; *n/a*: no target for the cell's write size or link;",
                  "*-*: no pairs of runs that passed.",
                  ""]
            y += self.rule_table(rules, -1)
            if self.have_host:
                y += ["", f"The same, from the pairs of quiet runs (at most {self.quiet}% of the host's CPUs):", ""]
                y += self.rule_table(rules, num(self.quiet))
        return y

    def rule_table(self, rules, quiet):
        y = ["| link | write | conns |" + "".join(f" {t.title()} |" for t in rules),
             "| --- | --- | ---: |" + " --- |" * len(rules)]
        for cell in self.cells:
            # A row for the cells where both methods of a target ran.
            if not any(t.where(cell) and cell + (t.num,) in self.med and cell + (t.den,) in self.med
                       for t in rules):
                continue
            row = []
            for t in rules:
                x = self.paired(cell, t.num, t.den, t.field, quiet) if t.where(cell) else None
                row.append("n/a" if not t.where(cell) else "-" if x is None else
                           "%.2f (%.2f-%.2f, n=%d) %s" % (x + (mark(t.met(x[0])),)))
            y.append(f"| {cell[0]} | {cell[1]} | {cell[2]} |" + "".join(f" {v} |" for v in row))
        return y

    # -- the zero-copy paths
    def zero_copy(self):
        i = self.i
        y = ["", "## Zero-copy paths", "",
             f"Loopback (MTU {i('lo_mtu')}), 1 connection, {i('zc_mib_per_run')} MiB per run, {i('zc_runs')} run(s) per cell;",
             "every sender mode feeds every receiver. Sender modes: *plain* `send()` from",
             "a buffer; *msgzc* `send(MSG_ZEROCOPY)` from the same buffer (over lo the kernel",
             "copies its pages into fresh whole pages at delivery); *pool* `zcrx_send()` of",
             "buffers claimed from a writable zcrx pool, filled once (whole pool pages, by",
             "reference). Receivers: *zcrx-poll* is zcrx's copy mode; *zcrx-map* and",
             "*zcrx-map1* are MAP pools (the module's default threshold and",
             "MAP_ALWAYS), which map whole page-aligned network pages instead of copying",
             "them; *tcpzc* is TCP_ZEROCOPY_RECEIVE.",
             "",
             "Medians. *CPU*: whole-guest CPU s/GiB. *mapped*: share of the bytes mapped",
             "into the receiving process (tcpzc's mapped pages, zcrx's MAPPED",
             "completions); *zero-copy*: share not copied on the receive side (zcrx:",
             "ZEROCOPY completions, which include MAPPED). *syscalls*: receive loop,",
             "counted by the receiver (zcrx: every poll() and ioctl() libzcrx makes). *vs",
             "zcrx-poll*, *vs tcpzc*: CPU/GiB divided by theirs for the same sender and",
             "write size (ratio of medians)."]
        thresholds = []
        for r in self.zc_runs:
            m = re.search(r"(?:^|;)threshold=([0-9]+)", r.get("extra", ""))
            if m:
                thresholds.append(f"{r['method']} {m.group(1)} bytes")
        if thresholds:
            y += ["", f"map_threshold of the MAP pools in this run: {', '.join(unique(thresholds))}."]
        rows = self.zc_results
        cells = unique((r["sender"], r["wsize"]) for r in rows)
        methods = unique(r["method"] for r in rows)
        med = {(r["sender"], r["wsize"], r["method"]): r for r in rows}

        def v(cell, m, field):
            return med.get(cell + (m,), {}).get(field + "_med", "")
        for title, field, d in (("MB/s", "mbps", 0), ("Whole-guest CPU s/GiB", "guest_cpu_s_per_gib", 2),
                                ("Receive-loop syscalls/GiB", "syscalls_per_gib", 0),
                                ("Bytes mapped", "mapped_pct", None)):
            y += self.matrix(title, ("sender", "write"), cells, methods,
                             lambda c, m: pct(v(c, m, field)) if d is None else fixed(v(c, m, field), d))
        for sender in unique(r["sender"] for r in rows):
            y += ["", f"### Sender: {SENDERS.get(sender, sender)}", "",
                  "| write | method | MB/s | whole-guest CPU s/GiB | rx CPU s/GiB | syscalls/GiB | mapped | zero-copy | vs zcrx-poll | vs tcpzc | runs | host busy |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
            for cell in cells:
                if cell[0] != sender:
                    continue
                for m in methods:
                    r = med.get(cell + (m,))
                    if r is None:
                        continue
                    cpu = r["guest_cpu_s_per_gib_med"]
                    y.append(f"| {cell[1]} | {m} | {spread(r, 'mbps', 0)} | {spread(r, 'guest_cpu_s_per_gib', 2)} | "
                             f"{fixed(r['rx_cpu_s_per_gib_med'], 2)} | {fixed(r['syscalls_per_gib_med'], 0)} | "
                             f"{pct(r['mapped_pct_med'])} | {pct(r['zerocopy_pct_med'])} | "
                             f"{ratio(cpu, v(cell, 'zcrx-poll', 'guest_cpu_s_per_gib'))} | "
                             f"{ratio(cpu, v(cell, 'tcpzc', 'guest_cpu_s_per_gib'))} | {runs_of(r)} | "
                             f"{pct(r['host_other_pct_med'])} |")
        y += ["",
              "zcrx-map and zcrx-map1 in `zc-runs.csv` (extra field): *mapped*, *fallbacks*",
              "(mappable runs copied: window full, ...), *zaps*/*zapped* (window unmaps and",
              "pages unmapped), *recv_calls* (ZCRXDEV_IOC_RECV), *threshold* (bytes, the pool's",
              "map_threshold), *polls*/*ioctls* (the receive loop's calls)."]
        return y

    def markdown(self):
        y = self.header() + self.summary() + self.all_figures() + self.targets()
        if self.tx:
            y += self.nic_links()
        if self.zc_results is not None:
            y += self.zero_copy()
        write_lines(os.path.join(self.out, "results.md"), y)

    # -- the nic links' host senders and card interrupts
    def nic_links(self):
        """What the host's sender spent and how many interrupts the card raised,
        per GiB, beside the guest's figures: medians over the runs that passed."""
        y = ["", "## nic links: the host's sender and the card's interrupts", "",
             "Medians over the runs that passed. *guest CPU*: whole-guest CPU s/GiB (the",
             "receive side only: the sender is on the host); *host sender CPU*: the",
             "sender's user + system s/GiB on the host (tx.csv); *interrupts*: the card's",
             "(its input and output queues) per GiB, from /proc/interrupts; *elsewhere*:",
             "how many of them, over all runs, were not on the layout's CPU.", "",
             "| link | write | conns | method | MB/s | guest CPU s/GiB | host sender CPU s/GiB "
             "| interrupts/GiB | elsewhere | runs |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        tx = {tuple(r[k] for k in ("link", "wsize", "conns", "method", "run")): r for r in self.tx}
        cells = {}
        for r in self.runs:
            if not r["link"].startswith("nic") or r["status"] != "ok" or num(r["bytes"]) <= 0:
                continue
            gib = num(r["bytes"]) / 1073741824
            c = cells.setdefault((r["link"], r["wsize"], r["conns"], r["method"]),
                                 {"mb": [], "g": [], "tx": [], "irq": [], "off": 0, "n": 0})
            c["n"] += 1
            c["mb"].append(num(r["mbps"]))
            c["g"].append(num(r["guest_cpu"]) / gib)
            t = tx.get((r["link"], r["wsize"], r["conns"], r["method"], r["run"]))
            if t:
                c["tx"].append((num(t["tx_user_s"]) + num(t["tx_sys_s"])) / gib)
            extra = dict(kv.split("=", 1) for kv in r.get("extra", "").split(";") if "=" in kv)
            if extra.get("nic_irqs", "").isdigit():
                c["irq"].append(int(extra["nic_irqs"]) / gib)
            if extra.get("nic_irqs_elsewhere", "").isdigit():
                c["off"] += int(extra["nic_irqs_elsewhere"])

        def med(v, d):
            return fixed(statistics.median(v), d) if v else "-"
        for (link, w, conns, m), c in cells.items():
            y.append(f"| {link} | {w} | {conns} | {m} | {med(c['mb'], 0)} | {med(c['g'], 2)} "
                     f"| {med(c['tx'], 2)} | {med(c['irq'], 0)} | {c['off']} | {c['n']} |")
        return y

    # -- chart.png
    def chart(self):
        """Two rows (throughput, whole-guest CPU per GiB) by a column per link x
        connections; in each panel the write sizes are the groups and the methods
        the bars, with min-max error bars."""
        if not shutil.which("gnuplot"):
            log("no gnuplot: no chart")
            return
        panels = unique((r["link"], r["conns"]) for r in self.results)
        out = self.out
        dat, gp, err = os.path.join(out, ".chart"), os.path.join(out, ".chart.gp"), os.path.join(out, ".chart.err")
        os.makedirs(dat, exist_ok=True)
        rows = ("mbps", "guest_cpu_s_per_gib")
        for link, conns in panels:
            sizes = unique(r["wsize"] for r in self.results if (r["link"], r["conns"]) == (link, conns))
            for row in rows:
                lines = []
                for w in sizes:
                    line = [w]
                    for m in self.methods:
                        r = self.med.get((link, w, conns, m))
                        line += [r[row + "_med"], r[row + "_min"], r[row + "_max"]] \
                            if r and r[row + "_med"] != "" else ["NaN"] * 3
                    lines.append(" ".join(line))
                write_lines(os.path.join(dat, f"{link}-{conns}-{row}.dat"), lines)
        g = self._plot(f"{out}/chart.png", panels, rows, dat, "")
        # One chart per link too, when there are several (docs/benchmarks.md
        # shows one per link).
        links = unique(link for link, _ in panels)
        if len(links) > 1:
            for link in links:
                g += self._plot(f"{out}/chart-{link}.png",
                                [p for p in panels if p[0] == link], rows, dat, f", {link}")
        write_lines(gp, g)
        with open(err, "w", encoding="utf-8") as e:
            rc = subprocess.run(["gnuplot", gp], stderr=e, check=False).returncode
        if rc != 0:
            with open(err, encoding="utf-8", errors="replace") as e:
                sys.stderr.write(e.read())
            log("gnuplot failed")
        shutil.rmtree(dat, ignore_errors=True)
        for f in (gp, err):
            os.remove(f)

    def _plot(self, png, panels, rows, dat, what):
        """gnuplot lines of one chart: rows x panels, each a histogram of the
        methods by write size."""
        width = 1800 if len(panels) > 2 else 1000
        g = [f"set terminal pngcairo size {width},1000 font 'DejaVu Sans,10'",
             f"set output '{png}'",
             f"set multiplot layout 2,{len(panels)} title 'zcrx receive benchmark{what}: {self.i('kernel')}, "
             f"{self.args.accel or '?'}{self._cpu_model()}, median of {self.i('runs')} runs, bars min-max' font ',13'",
             "set style data histogram",
             "set style histogram errorbars gap 1 lw 1",
             "set style fill solid 0.8 border -1",
             "set boxwidth 0.9",
             "set grid ytics",
             "set yrange [0:*]",
             "set offsets 0, 0, graph 0.22, 0",
             "set key top left horizontal maxrows 2 width -1 font ',8' samplen 1",
             "set xlabel 'sender write size'"]
        for row in rows:
            ylabel = "MB/s (higher is better)" if row == "mbps" else "guest CPU s/GiB (lower is better)"
            for link, conns in panels:
                f = f"{dat}/{link}-{conns}-{row}.dat"
                g += [f"set title '{link}, {conns} conn'", f"set ylabel '{ylabel}'",
                      "plot " + ", ".join(
                          f"'{f}' using {2 + 3 * i}:{3 + 3 * i}:{4 + 3 * i}{':xtic(1)' if i == 0 else ''} title '{m}'"
                          for i, m in enumerate(self.methods))]
        g.append("unset multiplot")
        return g

    def _cpu_model(self):
        return f" (-cpu {self.i('qemu_cpu')})" if self.i("qemu_cpu") else ""


def spread(r, field, d):
    """"median (min-max)" of a results row's figure."""
    if r[field + "_med"] == "":
        return "-"
    return f"{fixed(r[field + '_med'], d)} ({fixed(r[field + '_min'], d)}-{fixed(r[field + '_max'], d)})"


def runs_of(r):
    failed = num(r["runs_failed"])
    return r["runs_ok"] + (f" ({r['runs_failed']} failed)" if failed > 0 else "")


def mark(ok):
    return "met" if ok else "**missed**"


SENDERS = {"plain": "plain `send()`", "msgzc": "`send(MSG_ZEROCOPY)`",
           "pool": "`zcrx_send()` from a writable pool"}


# --- Targets as rules -----------------------------------------------------------------

class Target:
    """numerator's field / denominator's, paired per repetition, median against
    bound (op "<=", ">=" or "<"), in the cells where() accepts."""
    FIELDS = {"mbps": "MB/s", "cpu": "CPU", "syscalls": "syscalls"}
    OPS = {"<=": lambda x, b: x <= b, ">=": lambda x, b: x >= b, "<": lambda x, b: x < b}

    def __init__(self, num_, den, field, bound, op, where=None, where_text=""):
        self.num, self.den, self.field, self.bound, self.op = num_, den, field, bound, op
        self.where = where or (lambda cell: True)
        self.where_text = where_text

    def met(self, x):
        return self.OPS[self.op](x, self.bound)

    def title(self):
        return f"{self.num} {self.FIELDS[self.field]} vs {self.den} ({self.op} {self.bound:g}{self.where_text})"


def _at_4k(cell):
    return wsize_bytes(cell[1]) == 4096


def _nic_64k(cell):
    w = wsize_bytes(cell[1])
    return cell[0].startswith("nic") and w is not None and w >= 65536


# The methods of that issue: its table is only printed when one of them ran.
IOU_METHODS = {"zcrx-defer", "iouzcrx", "iouzcrx-batch"}
# The issue that adds zcrx-defer and io_uring's zero-copy receive (iouzcrx,
# iouzcrx-batch): (numerator, denominator, field, bound, direction[, cells]).
TARGETS_IOU = [
    Target(a, b, f, bound, op)
    for a, b in (("zcrx-defer", "iouzcrx-batch"), ("zcrx-batch", "iouzcrx-batch"), ("zcrx-poll", "iouzcrx"))
    for f, bound, op in (("mbps", 1.0, ">="), ("cpu", 0.9, "<="))
] + [
    Target(a, "recv", "cpu", 1.0, "<=", _at_4k, ", 4 KiB") for a in ("zcrx-defer", "zcrx-batch")
] + [
    Target(a, "iouzcrx-batch", "syscalls", 1.0, "<=") for a in ("zcrx-defer", "zcrx-batch")
] + [
    Target(a, "recv", "cpu", 0.8, "<=", _nic_64k, ", nic >= 64 KiB") for a in ("zcrx-defer", "zcrx-batch")
]


# --- Main -----------------------------------------------------------------------------

def aggregate(args):
    out = args.out
    os.makedirs(out, exist_ok=True)
    kinds = read_log(args.log)
    if not kinds["BENCHHDR"]:
        raise Abort(f"no BENCHHDR line in {args.log}: the benchmark did not start")
    hdr_line = kinds["BENCHHDR"][0]
    header = fields_of(hdr_line) + ["host_other_pct"]
    samples = read_monitor(args.monitor or args.log + ".monitor")
    # Every BENCHCSV line in log order (the monitor counts them all), then
    # split: the receive matrix to runs.csv, the zero-copy paths (link
    # lo@MODE) to zc-runs.csv.
    # The nic links' senders ran on the host (bench.sh's nic_send): with
    # their file (a guest run of bench.sh always has one), a nic run whose
    # sender failed, or has no row, failed; the sender's CPU is not other
    # work (the monitor counted it as such).
    tx = read_tx(args.tx or args.log + ".tx")
    tx_path = os.path.join(out, "tx.csv")
    if os.path.exists(tx_path):
        os.remove(tx_path)
    if tx is not None:
        write_lines(tx_path, [TX_HEADER] + list(tx.values()))
    matrix, zc = [], []
    for index, line in enumerate(kinds["BENCHCSV"], 1):
        f = line.split(",")
        secs = num(f[6]) if len(f) > 6 else 0.0
        own = 0.0
        if f[0].startswith("nic") and tx is not None:
            row = tx.get(tuple(f[:5]))
            if row is None or row.split(",")[5] != "0":
                f[-1] = "FAIL"
                line = ",".join(f)
            if row is not None:
                own = tx_cpu(row)
        line += "," + host_other_pct(samples, index, secs, args.host_cpus, own)
        (zc if "@" in f[0] else matrix).append(line)
    hdr_line += ",host_other_pct"
    write_lines(os.path.join(out, "runs.csv"), [hdr_line] + matrix)
    for f in ("zc-runs.csv", "zc-results.csv"):
        if os.path.exists(os.path.join(out, f)):
            os.remove(os.path.join(out, f))
    write_lines(os.path.join(out, "memcpy.csv"),
                ["run,memcpy_64MiB_MBps,memcpy_256KiB_MBps,verify_MBps"] + kinds["BENCHMEM"])
    if not matrix and not zc:
        raise Abort(f"no BENCHCSV line in {args.log}")
    write_lines(os.path.join(out, "results.csv"), summarize(header, matrix, False))
    if zc:
        # The same per cell, keyed by lo@MODE; then MODE gets a column.
        res = summarize(header, zc, True)
        write_lines(os.path.join(out, "zc-results.csv"),
                    [split_sender(res[0], True)] + [split_sender(x) for x in res[1:]])
        write_lines(os.path.join(out, "zc-runs.csv"),
                    [split_sender(hdr_line, True)] + [split_sender(x) for x in zc])
    report = Report(args, out, info_of(kinds["BENCHINFO"]))
    report.markdown()
    report.chart()
    failed = sum(r.get("status") != "ok" for r in report.runs + report.zc_runs)
    if failed:
        log(f"{failed} failed run(s): status not ok in {out}/runs.csv"
            + (f" or {out}/zc-runs.csv" if zc else ""))
        return FAILED_RUNS
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description="Aggregate a zcrx benchmark log into CSV files, "
                                "results.md and chart.png (what scripts/bench.sh runs).")
    p.add_argument("log", help="the guest's console or bench-guest.sh's output")
    p.add_argument("-o", "--out", required=True, help="output directory (bench.sh: $BENCH_OUT)")
    p.add_argument("--monitor", help="the host monitor's samples (default: LOG.monitor)")
    p.add_argument("--tx", help="the nic links' host senders (default: LOG.tx)")
    p.add_argument("--accel", default="", help="tcg, kvm or host: how the guest ran")
    p.add_argument("--host-other", default="", help="results.md's line on other work during the guest run")
    p.add_argument("--aggregate-only", action="store_true",
                   help="only the log was aggregated (bench.sh --aggregate): no bench.sh time in results.md")
    p.add_argument("--elapsed", type=int, help="seconds scripts/bench.sh had run when it called this")
    p.add_argument("--quiet-pct", default=os.environ.get("BENCH_QUIET_PCT") or QUIET_DEFAULT,
                   help="host load (%%) up to which a run counts as quiet (BENCH_QUIET_PCT, 10)")
    p.add_argument("--host-cpus", type=int, default=len(os.sched_getaffinity(0)),
                   help="CPUs of the host that ran the guest (default: this one's)")
    args = p.parse_args(argv)
    args.started = time.monotonic()
    try:
        return aggregate(args)
    except Abort as e:
        log(str(e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
