"""Turns bench/results/latest.jsonl into markdown: one table per scenario (each system's
median over the runs, and berth's ratio to the peer), the machine's limits measured in
the same run, seeding times, latency against repository size, memory, and a final table
of issue #6's targets, met or not, computed from this run. It prints; it asserts nothing.

    python3 bench/report.py bench/results/latest.jsonl [meta.txt]
"""
import json
import statistics
import sys
from collections import OrderedDict

MIB = 1024.0
# issue #6's targets, as ratios
PUT_X, BATCH_X, DESCRIBE_X, FLAT_X = 15.0, 20.0, 100.0, 1.5
OCI_X, UPLOAD_X, GET_OF_LOOPBACK, GROWTH_MIB = 3.0, 2.0, 0.9, 32.0
UPLOADS = (
    ("blob-upload-mono", "monolithic"),
    ("blob-upload-chunked", "chunked"),
    ("blob-upload-stream", "streamed"),
)


def is_berth(target):
    return target.startswith("berth")


def fmt_n(n):
    return f"{n:,}"


class Run:
    def __init__(self, rows):
        self.meas = [r for r in rows if "result" in r and "label" in r]
        self.idle = {}
        for r in rows:
            if r.get("kind") == "idle_rss":
                self.idle[(r["target"], r["when"])] = r["rss_kib"]
        self.seeds = [r for r in rows if r.get("kind") == "seed"]
        self.cal = next((r["result"] for r in rows if r.get("kind") == "calibrate"), None)
        # label -> (concurrency, target) -> [result]
        self.by_label = OrderedDict()
        self.label_of = {}
        for r in self.meas:
            key = (r["result"]["concurrency"], r["target"])
            self.by_label.setdefault(r["label"], OrderedDict()).setdefault(key, []).append(r)
            self.label_of[r["label"]] = r

    def concurrencies(self):
        return sorted({r["result"]["concurrency"] for r in self.meas})

    def select(self, scenario, target, conc, **tags):
        return [
            r["result"]
            for r in self.meas
            if r["scenario"] == scenario
            and r["target"] == target
            and r["result"]["concurrency"] == conc
            and all(r.get(k) == v for k, v in tags.items())
        ]

    def median(self, scenario, target, conc, field, **tags):
        xs = self.select(scenario, target, conc, **tags)
        return statistics.median(x[field] for x in xs) if xs else None

    def targets_of(self, scenario, **tags):
        seen = OrderedDict()
        for r in self.meas:
            if r["scenario"] == scenario and all(r.get(k) == v for k, v in tags.items()):
                seen[r["target"]] = True
        return list(seen)

    def loopback(self, streams):
        if not self.cal:
            return None
        return next((x["mib_per_s"] for x in self.cal["loopback"] if x["streams"] == streams), None)


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if h.startswith("#") else "---" for h in head) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(out).replace("| #", "| ") + "\n"


def scenario_tables(run):
    for label, groups in run.by_label.items():
        first = run.label_of[label]
        blob = first["scenario"].startswith("blob-")
        field, unit = ("mb_per_s", "MiB/s") if blob else ("rps", "req/s")
        print(f"### {label}\n")
        rows = []
        missing_peer = False
        for conc in sorted({c for c, _ in groups}):
            med = OrderedDict()
            for (c, target), runs in groups.items():
                if c != conc:
                    continue
                res = [x["result"] for x in runs]
                med[target] = (
                    statistics.median(x[field] for x in res),
                    statistics.median(x["p50_ms"] for x in res),
                    statistics.median(x["p99_ms"] for x in res),
                    sum(x["errors"] for x in res),
                    statistics.median(x.get("loadgen_cpu_share", 0.0) for x in res),
                    len(res),
                )
            peer = next((t for t in med if not is_berth(t)), None)
            missing_peer |= peer is None
            for target, (tput, p50, p99, errs, cpu, n) in med.items():
                ratio = ""
                if is_berth(target) and peer and med[peer][0] > 0:
                    ratio = f"**{tput / med[peer][0]:.1f}x**"
                rows.append([conc, target, f"{tput:,.1f}", f"{p50:.2f}", f"{p99:.2f}", errs, f"{cpu:.2f}", n, ratio])
        print(table(["#concurrency", "system", f"#{unit} (median)", "#p50 ms", "#p99 ms", "#errors",
                     "#loadgen CPU (cores)", "#runs", "#berth / peer"], rows))
        if missing_peer and first["scenario"] in ("describe-images", "list-images"):
            print("No peer at this size: moto is seeded and measured only up to "
                  "BENCH_MOTO_MAX_IMAGES images (it keeps images in a Python list and "
                  "returns every one of them, whatever maxResults says).\n")


def calibration_table(run):
    if not run.cal:
        return
    print("### The machine's limits, measured in this run\n")
    rows = [["SHA-256, one core (sha2 crate, as berth)", f"{run.cal['sha256_mib_per_s']:,.0f} MiB/s",
             f"over {run.cal['sha256_mib']} MiB"]]
    for x in run.cal["loopback"]:
        rows.append([f"loopback TCP, {x['streams']} stream(s)", f"{x['mib_per_s']:,.0f} MiB/s",
                     "1 MiB writes and reads, 3 s"])
    print(table(["limit", "#measured", "how"], rows))


def seed_table(run):
    if not any(s["images"] for s in run.seeds):
        return
    print("### Seeding (through each system's own PutImage / manifest PUT)\n")
    rows = [[s["target"], s["repo"], fmt_n(s["images"]), f"{s['seconds']:,.1f}",
             f"{s['images'] / s['seconds']:,.0f}" if s["images"] and s["seconds"] > 0 else ""]
            for s in run.seeds if s["images"]]
    print(table(["system", "repository", "#images", "#seconds", "#images/s"], rows))


def flatness(run, scenario, target, conc):
    """p50 by repository size; (smallest, p50), (largest, p50)."""
    sizes = sorted({r["images"] for r in run.meas if r["scenario"] == scenario and r["target"] == target})
    pts = [(n, run.median(scenario, target, conc, "p50_ms", images=n)) for n in sizes]
    return [(n, p) for n, p in pts if p is not None]


def flatness_table(run):
    rows = []
    for sc, name in (("describe-images", "DescribeImages"), ("list-images", "ListImages")):
        for target in run.targets_of(sc):
            if not is_berth(target):
                continue
            for conc in run.concurrencies():
                pts = flatness(run, sc, target, conc)
                if len(pts) < 2:
                    continue
                ratio = pts[-1][1] / pts[0][1] if pts[0][1] else float("inf")
                rows.append([name, target, conc, ", ".join(f"{fmt_n(n)}: {p:.2f}" for n, p in pts),
                             f"**{ratio:.2f}x**"])
    if rows:
        print("### First-page latency against repository size (berth)\n")
        print(table(["call", "system", "#concurrency", "p50 ms by repository size (images: ms)",
                     "#largest / smallest"], rows))


def memory(run):
    """Per blob system: idle at start, and the peak during c=1 uploads and GETs."""
    out = OrderedDict()
    for r in run.meas:
        if not r["scenario"].startswith("blob-") or not r["result"].get("rss"):
            continue
        if r["result"]["concurrency"] != 1:
            continue
        kind = "get" if r["scenario"] == "blob-get" else "upload"
        m = out.setdefault(r["target"], {"fs": r.get("fs"), "mib": r.get("blob_mib"), "upload": 0, "get": 0})
        m[kind] = max(m[kind], r["result"]["rss"]["peak_kib"])
    return out


def memory_table(run):
    idle_rows = []
    for (target, when), kib in run.idle.items():
        if when == "start":
            end = run.idle.get((target, "end"))
            idle_rows.append([target, f"{kib / MIB:.1f}", f"{end / MIB:.1f}" if end else ""])
    if idle_rows:
        print("### Resident memory at idle (VmRSS, MiB)\n")
        print(table(["system", "#at start, before any load", "#at the end of the run"], idle_rows))
    mem = memory(run)
    if mem:
        rows = []
        for target, m in mem.items():
            idle = run.idle.get((target, "start"))
            if not idle:
                continue
            rows.append([target, m["fs"], m["mib"], f"{idle / MIB:.1f}",
                         f"{m['upload'] / MIB:.1f}", f"{(m['upload'] - idle) / MIB:+.1f}",
                         f"{m['get'] / MIB:.1f}", f"{(m['get'] - idle) / MIB:+.1f}"])
        print("### Memory during one blob transfer (concurrency 1; peak = highest VmHWM over the runs, MiB)\n")
        print(table(["system", "file system", "#blob MiB", "#idle", "#peak, uploads", "#growth",
                     "#peak, GET", "#growth"], rows))


def verdict(values, ok):
    """'yes' if every value meets the target, 'no' if none does, else which ones do."""
    good = [k for k, v in values if ok(v)]
    if not values:
        return "not measured"
    if len(good) == len(values):
        return "yes"
    if not good:
        return "**no**"
    return "only at " + ", ".join(good)


def ratio_row(run, what, sc, peer_pred, target_x, tags=None, note=""):
    rows = []
    tags = tags or {}
    ts = run.targets_of(sc, **tags)
    peer = next((t for t in ts if peer_pred(t)), None)
    for t in ts:
        if not is_berth(t) or peer is None:
            continue
        vals = []
        for c in run.concurrencies():
            a = run.median(sc, t, c, "mb_per_s" if sc.startswith("blob-") else "rps", **tags)
            b = run.median(sc, peer, c, "mb_per_s" if sc.startswith("blob-") else "rps", **tags)
            if a is not None and b:
                vals.append((f"c={c}", a / b))
        rows.append([what, t, " / ".join(f"{k}: {v:.2f}x" for k, v in vals) + note,
                     verdict(vals, lambda v: v >= target_x)])
    return rows


def targets_table(run):
    rows = []
    moto = lambda t: t == "moto"
    reg = lambda t: not is_berth(t)
    rows += ratio_row(run, f"PutImage >= {PUT_X:.0f}x moto", "put-image", moto, PUT_X)
    for sc, how in (("batch-get-tag", "by tag"), ("batch-get-digest", "by digest")):
        n = next((r["images"] for r in run.meas if r["scenario"] == sc), 0)
        rows += ratio_row(run, f"BatchGetImage {how} >= {BATCH_X:.0f}x moto ({fmt_n(n)} images)", sc, moto, BATCH_X)
    # DescribeImages against moto on the smallest repository moto was measured at (1,000 by default)
    moto_sizes = sorted({r["images"] for r in run.meas if r["scenario"] == "describe-images" and r["target"] == "moto"})
    if moto_sizes:
        n = moto_sizes[0]
        rows += ratio_row(run, f"DescribeImages first page >= {DESCRIBE_X:.0f}x moto ({fmt_n(n)} images)",
                          "describe-images", moto, DESCRIBE_X, {"images": n})
    for sc, name in (("describe-images", "DescribeImages"), ("list-images", "ListImages")):
        for t in run.targets_of(sc):
            if not is_berth(t):
                continue
            vals, sizes = [], ""
            for c in run.concurrencies():
                pts = flatness(run, sc, t, c)
                if len(pts) >= 2 and pts[0][1]:
                    vals.append((f"c={c}", pts[-1][1] / pts[0][1]))
                    sizes = f"{fmt_n(pts[-1][0])} vs {fmt_n(pts[0][0])} images"
            if vals:
                rows.append([f"{name} p50 at {sizes} <= {FLAT_X}x" + (" (scenario 3)" if sc == "list-images" else ""),
                             t, " / ".join(f"{k}: {v:.2f}x" for k, v in vals), verdict(vals, lambda v: v <= FLAT_X)])
    rows += ratio_row(run, f"manifest PUT >= {OCI_X:.0f}x distribution", "oci-put-manifest", reg, OCI_X)
    rows += ratio_row(run, f"manifest GET >= {OCI_X:.0f}x distribution", "oci-get-manifest", reg, OCI_X)
    fss = list(OrderedDict((r.get("fs"), True) for r in run.meas if r["scenario"].startswith("blob-")))
    for fs in fss:
        for sc, how in UPLOADS:
            if fs == "tmpfs":
                rows += ratio_row(run, f"blob upload ({how}) >= {UPLOAD_X:.0f}x distribution on tmpfs", sc, reg,
                                  UPLOAD_X, {"fs": fs})
            else:
                # on disk the target is only that berth still syncs; the ratio is shown
                for r in ratio_row(run, f"blob upload ({how}) on {fs}, berth syncing (no ratio target)",
                                   sc, reg, 0, {"fs": fs}):
                    r[3] = "(shown)"
                    rows.append(r)
        for t in run.targets_of("blob-get", fs=fs):
            if not is_berth(t):
                continue
            vals, shown = [], []
            peer = next((p for p in run.targets_of("blob-get", fs=fs) if not is_berth(p)), None)
            for c in run.concurrencies():
                a, lim = run.median("blob-get", t, c, "mb_per_s", fs=fs), run.loopback(c)
                if a is not None and lim:
                    vals.append((f"c={c}", a / lim))
                    b = run.median("blob-get", peer, c, "mb_per_s", fs=fs) if peer else None
                    shown.append(f"c={c}: {a / lim:.0%}" + (f" ({peer} {b / lim:.0%})" if b else ""))
            rows.append([f"blob GET >= {GET_OF_LOOPBACK:.0%} of loopback TCP with as many streams ({fs})", t,
                         " / ".join(shown), verdict(vals, lambda v: v >= GET_OF_LOOPBACK)])
    starts = {t: kib for (t, w), kib in run.idle.items() if w == "start"}
    regs = {t: kib for t, kib in starts.items() if t.startswith("registry")}
    if regs:
        ref = min(regs.values())
        for t, kib in starts.items():
            if is_berth(t):
                rows.append([f"RSS at idle <= distribution's ({ref / MIB:.1f} MiB, the least of {len(regs)})", t,
                             f"{kib / MIB:.1f} MiB", "yes" if kib <= ref else "**no**"])
    for t, m in memory(run).items():
        idle = run.idle.get((t, "start"))
        if not is_berth(t) or not idle:
            continue
        vals = [("upload", (m["upload"] - idle) / MIB), ("GET", (m["get"] - idle) / MIB)]
        size = "1 GiB" if m["mib"] == 1024 else f"{m['mib']} MiB (not 1 GiB)"
        rows.append([f"RSS growth over idle during a {size} transfer < {GROWTH_MIB:.0f} MiB ({m['fs']})", t,
                     " / ".join(f"{k}: {v:+.1f} MiB" for k, v in vals), verdict(vals, lambda v: v < GROWTH_MIB)])
    if rows:
        print("### Targets (issue #6), computed from this run\n")
        print(table(["target", "system", "measured", "met?"], rows))


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    if len(sys.argv) > 2:
        for line in open(sys.argv[2]):
            print(f"- {line.strip()}")
        print()
    run = Run(rows)
    calibration_table(run)
    scenario_tables(run)
    flatness_table(run)
    memory_table(run)
    seed_table(run)
    targets_table(run)


if __name__ == "__main__":
    main()
