"""Turns bench/results/latest.jsonl into markdown: the machine's limits measured in the
same run (SHA-256, loopback TCP, fdatasync), one table per scenario (each system's median
over the runs, its CPU a request, and berth's ratio to the peer), throughput against
clients, latency against repository size, memory, seeding times, a table of issue #17's
targets, met or not, computed from this run, and what this machine allows for the
targets that bound on it. It prints; it asserts nothing.

    python3 bench/report.py bench/results/latest.jsonl [meta.txt]
"""
import json
import statistics
import sys
from collections import OrderedDict

MIB = 1024.0
# issue #17's targets
PUT_X = 15.0  # PutImage at 4 clients, over moto
PUT_OF_FSYNC = 0.5  # PutImage at 1 client, over the fdatasync rate of its database's directory
# (overwriting; the higher of the readings taken before and after PutImage is measured)
OCI_PUT_X, OCI_GET_X = 5.0, 10.0  # manifest PUT and GET over distribution
GET_OF_PLAIN = 0.9  # blob GET over the plain sender's, same file, same client
GET_X, UPLOAD_X = 1.0, 1.0  # blob GET and upload over distribution
FALL_TOLERANCE = 0.05  # throughput at a level may be this much below the previous level's
FLAT_X = 1.5  # first page p50, largest repository count over smallest
IDLE_MIB, GROWTH_MIB = 16.0, 32.0
SCALING = ("put-image", "oci-get-manifest", "blob-get")
UPLOADS = (
    ("blob-upload-mono", "monolithic"),
    ("blob-upload-chunked", "chunked"),
    ("blob-upload-stream", "streamed"),
)
WIDE = (("put-image-layers", "PutImage of a manifest with {} layers"),
        ("put-image-index", "PutImage of an image index with {} children"))


def is_berth(target):
    return target.startswith("berth")


def is_postgres(target):
    return target.startswith("berth-pg")


def is_plain(target):
    return target.startswith("plain")


def fmt_n(n):
    return f"{n:,}"


def field_of(scenario):
    return "mb_per_s" if scenario.startswith("blob-") else "rps"


class Run:
    def __init__(self, rows):
        self.meas = [r for r in rows if "result" in r and "label" in r]
        self.idle = {}
        for r in rows:
            if r.get("kind") == "idle_rss":
                self.idle[(r["target"], r["when"])] = r["rss_kib"]
        self.seeds = [r for r in rows if r.get("kind") == "seed"]
        self.cal = next((r["result"] for r in rows if r.get("kind") == "calibrate"), None)
        self.fsync = [r for r in rows if r.get("kind") == "fsync"]
        self.round_trip = next((r for r in rows if r.get("kind") == "round_trip"), None)
        # label -> (concurrency, target) -> [result]
        self.by_label = OrderedDict()
        self.label_of = {}
        for r in self.meas:
            key = (r["result"]["concurrency"], r["target"])
            self.by_label.setdefault(r["label"], OrderedDict()).setdefault(key, []).append(r)
            self.label_of[r["label"]] = r

    def rows(self, scenario, target=None, **tags):
        return [
            r
            for r in self.meas
            if r["scenario"] == scenario
            and (target is None or r["target"] == target)
            and all(r.get(k) == v for k, v in tags.items())
        ]

    def levels(self, scenario, target=None, **tags):
        return sorted({r["result"]["concurrency"] for r in self.rows(scenario, target, **tags)})

    def median(self, scenario, target, conc, field, **tags):
        xs = [r["result"][field] for r in self.rows(scenario, target, **tags) if r["result"]["concurrency"] == conc]
        return statistics.median(xs) if xs else None

    def targets_of(self, scenario, **tags):
        return list(OrderedDict((r["target"], True) for r in self.rows(scenario, **tags)))

    def tag(self, scenario, target, name):
        return next((r.get(name) for r in self.rows(scenario, target)), None)

    def peer(self, scenario, target, **tags):
        """The system berth's figures are set against: not berth, not the plain sender; the
        one keeping its data where this berth does if there is one, else one that does not
        run on tmpfs (for berth on Postgres), else the first."""
        cands = [t for t in self.targets_of(scenario, **tags) if not is_berth(t) and not is_plain(t)]
        db = self.tag(scenario, target, "db")
        same = [t for t in cands if db is not None and self.tag(scenario, t, "db") == db]
        if same:
            return same[0]
        if db == "postgres":
            disk = [t for t in cands if self.tag(scenario, t, "db") not in ("tmpfs",)]
            if disk:
                return disk[0]
        return cands[0] if cands else None

    def cpu_us(self, scenario, target, conc, field, **tags):
        """Median over the runs of `field` (CPU seconds over a cell: server_cpu_s, db_cpu_s,
        or the load generator's) per request, in µs; None where it was not measured."""
        xs = []
        for r in self.rows(scenario, target, **tags):
            x = r["result"]
            if x["concurrency"] != conc or not x["requests"]:
                continue
            secs = x["loadgen_cpu_share"] * x["duration_s"] if field == "loadgen" else x.get(field)
            if secs is not None:
                xs.append(secs * 1e6 / x["requests"])
        return statistics.median(xs) if xs else None

    def loopback(self, streams):
        if not self.cal:
            return None
        return next((x["mib_per_s"] for x in self.cal["loopback"] if x["streams"] == streams), None)

    def fsync_rate(self, target):
        """(fdatasync/s overwriting, where) in the directory of this berth's database, the
        higher of the readings; for berth on Postgres, whose data directory is the
        server's, the on-disk directory's."""
        own = [f for f in self.fsync if f["target"] == target]
        if not own and is_postgres(target):
            disk = next((f["target"] for f in self.fsync if f["fs"] != "tmpfs"), None)
            own = [f for f in self.fsync if f["target"] == disk]
        if not own:
            return None
        return max(f["result"]["overwrite_per_s"] for f in own), own[0]

    def is_reference(self, scenario, target):
        """berth with its database on tmpfs in a write scenario: shown, not a target."""
        return self.tag(scenario, target, "db") == "tmpfs"


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if h.startswith("#") else "---" for h in head) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(out).replace("| #", "| ") + "\n"


def scenario_tables(run):
    for label, groups in run.by_label.items():
        first = run.label_of[label]
        sc = first["scenario"]
        field = field_of(sc)
        unit = "MiB/s" if sc.startswith("blob-") else "req/s"
        print(f"### {label}\n")
        rows = []
        missing_peer = False
        tags = {"images": first["images"]}
        for k in ("fs", "repos"):
            if k in first:
                tags[k] = first[k]
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
                    cpu_cell(run, sc, target, conc, tags),
                    len(res),
                )
            missing_peer |= not any(not is_berth(t) and not is_plain(t) for t in med)
            for target, (tput, p50, p99, errs, cpu, n) in med.items():
                ratio = ""
                peer = run.peer(sc, target, **tags) if is_berth(target) else None
                if peer in med and med[peer][0] > 0:
                    ratio = f"**{tput / med[peer][0]:.1f}x**" + (f" ({peer})" if len(med) > 3 else "")
                rows.append([conc, target, f"{tput:,.1f}", f"{p50:.2f}", f"{p99:.2f}", errs, cpu, n, ratio])
        print(table(["#concurrency", "system", f"#{unit} (median)", "#p50 ms", "#p99 ms", "#errors",
                     "#CPU µs a request: system / its database / load generator", "#runs", "#berth / peer"],
                    rows))
        dbs = OrderedDict((t, run.tag(sc, t, "db")) for _, t in groups)
        if any(dbs.values()):
            print("Data kept in: " + ", ".join(f"{t} {db}" for t, db in dbs.items() if db) + ".\n")
        shared = OrderedDict()
        for (conc, target), runs in sorted(groups.items(), key=lambda kv: kv[0][0]):
            commits = sum(x.get("sqlite_commits", 0) for x in runs)
            if commits:
                shared.setdefault(target, []).append(
                    f"c={conc} {sum(x['sqlite_writes'] for x in runs) / commits:.2f}")
        if shared:
            print("Writes a commit of SQLite's writer thread held (group commit; over the runs): "
                  + "; ".join(f"{t} {', '.join(v)}" for t, v in shared.items()) + ".\n")
        if missing_peer and sc in ("describe-images", "list-images"):
            print("No peer at this size: moto is seeded and measured only up to "
                  "BENCH_MOTO_MAX_IMAGES images (it keeps images in a Python list and "
                  "returns every one of them, whatever maxResults says).\n")


def cpu_cell(run, sc, target, conc, tags):
    """'system / database / load generator' CPU µs a request, '-' where not measured."""
    vals = [run.cpu_us(sc, target, conc, f, **tags) for f in ("server_cpu_s", "db_cpu_s", "loadgen")]
    return " / ".join("-" if v is None else f"{v:,.0f}" for v in vals)


def calibration_table(run):
    rows = []
    if run.round_trip:
        x = run.round_trip["result"]
        rows.append([f"loopback TCP round trip, {x['bytes']} B each way, nothing done at either end",
                     f"{x['us']:.1f} µs ({1e6 / x['us']:,.0f}/s)",
                     f"two threads, one round trip at a time, {x['seconds']:.0f} s"])
    if run.cal:
        rows.append(["SHA-256, one core (sha2 crate, as berth)", f"{run.cal['sha256_mib_per_s']:,.0f} MiB/s",
                     f"over {run.cal['sha256_mib']} MiB"])
        for x in run.cal["loopback"]:
            rows.append([f"loopback TCP, {x['streams']} stream(s)", f"{x['mib_per_s']:,.0f} MiB/s",
                         "1 MiB writes and reads, 3 s"])
    for f in run.fsync:
        x = f["result"]
        how = f"{x['block_bytes']} B writes, one at a time, {x['seconds']:g} s, in {x['dir']}"
        when = f" ({f['when']} PutImage)" if f.get("when") else ""
        rows.append([f"fdatasync, overwriting a 1 MiB file, {f['fs']}, {f['target']}'s database directory{when}",
                     f"{x['overwrite_per_s']:,.0f}/s", how])
        rows.append([f"fdatasync, appending, {f['fs']}{when}", f"{x['append_per_s']:,.0f}/s", how])
    if rows:
        print("### The machine's limits, measured in this run\n")
        print(table(["limit", "#measured", "how"], rows))


def seed_table(run):
    rows = []
    for s in run.seeds:
        if s.get("repos"):
            rows.append([s["target"], s["repo"], f"{fmt_n(s['repos'])} repositories", f"{s['seconds']:,.1f}",
                         f"{s['repos'] / s['seconds']:,.0f}" if s["seconds"] > 0 else ""])
        elif s["images"]:
            rows.append([s["target"], s["repo"], f"{fmt_n(s['images'])} images", f"{s['seconds']:,.1f}",
                         f"{s['images'] / s['seconds']:,.0f}" if s["seconds"] > 0 else ""])
    if rows:
        print("### Seeding (through each system's own PutImage / manifest PUT / CreateRepository)\n")
        print(table(["system", "repository", "#count", "#seconds", "#per second"], rows))


def flatness(run, scenario, target, conc):
    """p50 by repository size (images); [(size, p50)]."""
    sizes = sorted({r["images"] for r in run.rows(scenario, target)})
    pts = [(n, run.median(scenario, target, conc, "p50_ms", images=n)) for n in sizes]
    return [(n, p) for n, p in pts if p is not None]


def repo_flatness(run, scenario, db, conc):
    """p50 by repository count, for the berths keeping their data in `db` (one per count)."""
    pts = []
    for n in sorted({r["repos"] for r in run.rows(scenario, db=db) if "repos" in r}):
        xs = [r["result"]["p50_ms"] for r in run.rows(scenario, db=db, repos=n)
              if is_berth(r["target"]) and r["result"]["concurrency"] == conc]
        if xs:
            pts.append((n, statistics.median(xs)))
    return pts


def repo_stores(run, scenario):
    return list(OrderedDict((r.get("db"), True) for r in run.rows(scenario) if "repos" in r))


def flatness_table(run):
    rows = []
    for sc, name in (("describe-images", "DescribeImages"), ("list-images", "ListImages")):
        for target in run.targets_of(sc):
            if not is_berth(target):
                continue
            for conc in run.levels(sc, target):
                pts = flatness(run, sc, target, conc)
                if len(pts) < 2:
                    continue
                ratio = pts[-1][1] / pts[0][1] if pts[0][1] else float("inf")
                rows.append([name, target, conc, ", ".join(f"{fmt_n(n)} images: {p:.2f}" for n, p in pts),
                             f"**{ratio:.2f}x**"])
    for sc, name in (("describe-repositories", "DescribeRepositories"), ("oci-catalog", "/v2/_catalog")):
        for db in repo_stores(run, sc):
            for conc in run.levels(sc, db=db):
                pts = repo_flatness(run, sc, db, conc)
                if len(pts) < 2:
                    continue
                ratio = pts[-1][1] / pts[0][1] if pts[0][1] else float("inf")
                rows.append([name, f"berth ({db})", conc,
                             ", ".join(f"{fmt_n(n)} repositories: {p:.2f}" for n, p in pts), f"**{ratio:.2f}x**"])
    if rows:
        print("### First-page latency against repository size (berth)\n")
        print(table(["call", "system", "#concurrency", "p50 ms by size", "#largest / smallest"], rows))


def scaling_points(run, sc, target, **tags):
    """[(concurrency, throughput, p99)] for one system in one scenario."""
    pts = []
    for c in run.levels(sc, target, **tags):
        tput = run.median(sc, target, c, field_of(sc), **tags)
        p99 = run.median(sc, target, c, "p99_ms", **tags)
        if tput is not None:
            pts.append((c, tput, p99))
    return pts


def never_falls(pts):
    """(met, first fall): each level's throughput >= the previous level's, less the tolerance."""
    for (c0, t0, _), (c1, t1, _) in zip(pts, pts[1:]):
        if t1 < t0 * (1 - FALL_TOLERANCE):
            return False, f"c={c0} -> c={c1}: {t1 / t0 - 1:+.0%}"
    return True, ""


def scaling_cases(run):
    """(what, scenario, tags) for every scenario measured at several client counts."""
    out = []
    for sc in SCALING:
        if sc == "blob-get":
            for fs in OrderedDict((r.get("fs"), True) for r in run.rows(sc)):
                out.append((f"blob GET ({fs})", sc, {"fs": fs}))
        elif run.rows(sc):
            out.append(({"put-image": "PutImage", "oci-get-manifest": "manifest GET"}[sc], sc, {}))
    return out


def scaling_table(run):
    rows = []
    for what, sc, tags in scaling_cases(run):
        for t in run.targets_of(sc, **tags):
            pts = scaling_points(run, sc, t, **tags)
            if len(pts) < 2:
                continue
            ok, fall = never_falls(pts)
            rows.append([what, t, " / ".join(f"c={c}: {x:,.0f} (p99 {p:.2f} ms)" for c, x, p in pts),
                         "yes" if ok else f"**no** ({fall})"])
    if rows:
        print(f"### Throughput as clients are added (req/s or MiB/s, median; "
              f"a level may be up to {FALL_TOLERANCE:.0%} below the previous one)\n")
        print(table(["scenario", "system", "throughput by clients", "never falls?"], rows))


def memory(run):
    """Per blob system: idle at start, and the peak during c=1 uploads and GETs."""
    out = OrderedDict()
    for r in run.meas:
        if not r["scenario"].startswith("blob-") or not r["result"].get("rss"):
            continue
        if r["result"]["concurrency"] != 1:
            continue
        kind = "get" if r["scenario"] == "blob-get" else "upload"
        m = out.setdefault(r["target"], {"fs": r.get("fs"), "mib": r.get("blob_mib"), "upload": None, "get": None})
        m[kind] = max(m[kind] or 0, r["result"]["rss"]["peak_kib"])
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
    rows = []
    for target, m in memory(run).items():
        idle = run.idle.get((target, "start"))
        if not idle:
            continue
        cell = lambda v: (f"{v / MIB:.1f}", f"{(v - idle) / MIB:+.1f}") if v else ("", "")
        rows.append([target, m["fs"], m["mib"], f"{idle / MIB:.1f}", *cell(m["upload"]), *cell(m["get"])])
    if rows:
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


def ratio_rows(run, what, sc, target_x, tags=None, fmt="{:.2f}x"):
    """One row per berth system (not the tmpfs references): its throughput over its peer's
    at every level both were measured at."""
    rows = []
    tags = tags or {}
    for t in run.targets_of(sc, **tags):
        if not is_berth(t) or run.is_reference(sc, t):
            continue
        peer = run.peer(sc, t, **tags)
        if peer is None:
            continue
        vals = []
        for c in run.levels(sc, t, **tags):
            a = run.median(sc, t, c, field_of(sc), **tags)
            b = run.median(sc, peer, c, field_of(sc), **tags)
            if a is not None and b:
                vals.append((f"c={c}", a / b))
        rows.append([what.format(peer=peer), t, " / ".join(f"{k}: {fmt.format(v)}" for k, v in vals),
                     verdict(vals, lambda v: v >= target_x)])
    return rows


def put_rows(run):
    rows = []
    sc = "put-image"
    for t in run.targets_of(sc):
        if not is_berth(t) or run.is_reference(sc, t):
            continue
        a, b = run.median(sc, t, 4, "rps"), run.median(sc, "moto", 4, "rps")
        if a is not None and b:
            rows.append([f"PutImage at 4 clients >= {PUT_X:.0f}x moto", t,
                         f"{a:,.0f}/s vs moto {b:,.0f}/s: {a / b:.2f}x", "yes" if a >= PUT_X * b else "**no**"])
        else:
            rows.append([f"PutImage at 4 clients >= {PUT_X:.0f}x moto", t, "", "not measured"])
        one, f = run.median(sc, t, 1, "rps"), run.fsync_rate(t)
        what = f"PutImage at 1 client >= {PUT_OF_FSYNC:.0%} of the fdatasync rate"
        if one is not None and f:
            rate, f = f
            where = "" if f["target"] == t else f" (measured in {f['target']}'s, {f['fs']})"
            rows.append([what, t, f"{one:,.0f}/s vs {rate:,.0f} fdatasync/s{where}: {one / rate:.0%}",
                         "yes" if one >= PUT_OF_FSYNC * rate else "**no**"])
        else:
            rows.append([what, t, "", "not measured"])
    return rows


def blob_rows(run):
    rows = []
    for fs in OrderedDict((r.get("fs"), True) for r in run.meas if r["scenario"].startswith("blob-")):
        for sc, how in UPLOADS:
            rows += ratio_rows(run, f"blob upload ({how}, {fs}) >= {UPLOAD_X:.0f}x distribution", sc, UPLOAD_X,
                               {"fs": fs})
        plain = next((p for p in run.targets_of("blob-get", fs=fs) if is_plain(p)), None)
        for t in run.targets_of("blob-get", fs=fs):
            if not is_berth(t) or plain is None:
                continue
            vals, shown = [], []
            peer = run.peer("blob-get", t, fs=fs)
            for c in run.levels("blob-get", t, fs=fs):
                a = run.median("blob-get", t, c, "mb_per_s", fs=fs)
                lim = run.median("blob-get", plain, c, "mb_per_s", fs=fs)
                if a is not None and lim:
                    vals.append((f"c={c}", a / lim))
                    b = run.median("blob-get", peer, c, "mb_per_s", fs=fs) if peer else None
                    shown.append(f"c={c}: {a / lim:.0%}" + (f" ({peer} {b / lim:.0%})" if b else ""))
            rows.append([f"blob GET ({fs}) >= {GET_OF_PLAIN:.0%} of the plain sender ({plain})", t,
                         " / ".join(shown), verdict(vals, lambda v: v >= GET_OF_PLAIN)])
        rows += ratio_rows(run, f"blob GET ({fs}) ahead of distribution", "blob-get", GET_X, {"fs": fs})
    return rows


def scaling_rows(run):
    rows = []
    for what, sc, tags in scaling_cases(run):
        for t in run.targets_of(sc, **tags):
            if not is_berth(t) or run.is_reference(sc, t):
                continue
            pts = scaling_points(run, sc, t, **tags)
            ok, fall = never_falls(pts)
            rows.append([f"{what} throughput never falls as clients are added (-{FALL_TOLERANCE:.0%} tolerated)", t,
                         " / ".join(f"c={c}: {x:,.0f}, p99 {p:.2f} ms" for c, x, p in pts),
                         "not measured" if len(pts) < 2 else ("yes" if ok else f"**no** ({fall})")])
    return rows


def scale_rows(run):
    rows = []
    for sc, name in (("describe-repositories", "DescribeRepositories"), ("oci-catalog", "/v2/_catalog")):
        for db in repo_stores(run, sc):
            vals, sizes = [], ""
            for c in run.levels(sc, db=db):
                pts = repo_flatness(run, sc, db, c)
                if len(pts) >= 2 and pts[0][1]:
                    vals.append((f"c={c}", pts[-1][1] / pts[0][1]))
                    sizes = f"{fmt_n(pts[-1][0])} vs {fmt_n(pts[0][0])} repositories"
            if vals:
                rows.append([f"{name} first page p50 at {sizes} <= {FLAT_X}x", f"berth ({db})",
                             " / ".join(f"{k}: {v:.2f}x" for k, v in vals), verdict(vals, lambda v: v <= FLAT_X)])
    for sc, what in WIDE:
        for t in run.targets_of(sc):
            if not is_berth(t) or run.is_reference(sc, t):
                continue
            n = run.tag(sc, t, "wide")
            shown = []
            for c in run.levels(sc, t):
                p50, p99 = run.median(sc, t, c, "p50_ms"), run.median(sc, t, c, "p99_ms")
                errs = sum(r["result"]["errors"] for r in run.rows(sc, t) if r["result"]["concurrency"] == c)
                shown.append(f"c={c}: p50 {p50:.1f} ms, p99 {p99:.1f} ms" + (f", {errs} errors" if errs else ""))
            rows.append([what.format(fmt_n(n or 0)) + ": latency", t, " / ".join(shown), "(reported)"])
    return rows


def memory_rows(run):
    rows = []
    for (t, w), kib in run.idle.items():
        if w == "start" and is_berth(t):
            rows.append([f"RSS at idle <= {IDLE_MIB:.0f} MiB", t, f"{kib / MIB:.1f} MiB",
                         "yes" if kib <= IDLE_MIB * MIB else "**no**"])
    for t, m in memory(run).items():
        idle = run.idle.get((t, "start"))
        if not is_berth(t) or not idle:
            continue
        vals = [(k, (m[key] - idle) / MIB) for k, key in (("upload", "upload"), ("GET", "get")) if m[key]]
        size = "1 GiB" if m["mib"] == 1024 else f"{m['mib']} MiB (not 1 GiB)"
        rows.append([f"RSS growth over idle during a {size} transfer <= {GROWTH_MIB:.0f} MiB ({m['fs']})", t,
                     " / ".join(f"{k}: {v:+.1f} MiB" for k, v in vals), verdict(vals, lambda v: v <= GROWTH_MIB)])
    return rows


def targets_table(run):
    rows = put_rows(run)
    rows += ratio_rows(run, f"manifest PUT >= {OCI_PUT_X:.0f}x distribution ({{peer}})", "oci-put-manifest", OCI_PUT_X)
    rows += ratio_rows(run, f"manifest GET >= {OCI_GET_X:.0f}x distribution ({{peer}})", "oci-get-manifest", OCI_GET_X)
    rows += blob_rows(run)
    rows += scaling_rows(run)
    rows += scale_rows(run)
    rows += memory_rows(run)
    if rows:
        print("### Targets (issue #17), computed from this run\n")
        print(table(["target", "system", "measured", "met?"], rows))


def ceiling_rows(run):
    """For the one-client targets: the most any server could answer here, from what this
    run measured a request costs with no server work at all (a loopback round trip, one
    fdatasync for a durable commit, the load generator's own CPU beyond the send and
    receive the round trip holds; on Postgres one more round trip, to the database). For
    PutImage at four clients: the rate at which the CPU this run measured a push to cost
    (system, database and load generator) fills every core."""
    if not run.round_trip:
        return []
    rt, cores = run.round_trip["result"]["us"], run.round_trip.get("cores")
    # the client's half of the CPU a bare round trip costs both ends: in the round trip
    client_side = run.round_trip["result"].get("cpu_us", 0.0) / 2
    rows = []

    def row(what, t, parts, needed, measured, rest, beyond="this machine"):
        floor = sum(us for _, us in parts)
        ceiling = 1e6 / floor
        verdict = f"**beyond {beyond}**" if ceiling < needed else f"within it: the rest is {rest}"
        rows.append([what, t, " + ".join(f"{name} {us:,.0f} µs" for name, us in parts) + f" = {floor:,.0f} µs",
                     f"{ceiling:,.0f}/s", f"{needed:,.0f}/s", f"{measured:,.0f}/s", verdict])

    sc = "put-image"
    for t in run.targets_of(sc):
        if not is_berth(t) or run.is_reference(sc, t):
            continue
        hops = [("round trip", rt)] * (2 if is_postgres(t) else 1)
        one, lg, f = run.median(sc, t, 1, "rps"), run.cpu_us(sc, t, 1, "loadgen"), run.fsync_rate(t)
        if one is not None and lg is not None and f:
            row(f"PutImage at 1 client >= {PUT_OF_FSYNC:.0%} of the fdatasync rate", t,
                hops + [("fdatasync", 1e6 / f[0]), ("load generator CPU", lg - client_side)],
                PUT_OF_FSYNC * f[0], one, "the system's own work")
        four, moto = run.median(sc, t, 4, "rps"), run.median(sc, "moto", 4, "rps")
        cpu = [run.cpu_us(sc, t, 4, k) for k in ("server_cpu_s", "db_cpu_s", "loadgen")]
        if cores and four is not None and moto and cpu[0] is not None and cpu[2] is not None:
            names = ("system CPU", "database CPU", "load generator CPU")
            parts = [(f"{name} / {cores} cores", us / cores) for name, us in zip(names, cpu) if us is not None]
            row(f"PutImage at 4 clients >= {PUT_X:.0f}x moto", t, parts, PUT_X * moto, four,
                "waiting (for the disk, for a turn)", f"{cores} cores at this cost")
    sc = "oci-get-manifest"
    for t in run.targets_of(sc):
        if not is_berth(t):
            continue
        peer, lg = run.peer(sc, t), run.cpu_us(sc, t, 1, "loadgen")
        one, theirs = run.median(sc, t, 1, "rps"), run.median(sc, peer, 1, "rps") if peer else None
        if one is not None and theirs and lg is not None:
            hops = [("round trip", rt)] * (2 if is_postgres(t) else 1)
            row(f"manifest GET at 1 client >= {OCI_GET_X:.0f}x distribution ({peer})", t,
                hops + [("load generator CPU", lg - client_side)], OCI_GET_X * theirs, one,
                "the system's own work")
    return rows


def ceilings_table(run):
    rows = ceiling_rows(run)
    if rows:
        print("### What this machine allows, at the least a request costs here\n")
        print("At one client, what a request costs with no work at all in the system measured, "
              "one step after the other: a loopback round trip with nothing done (two for berth "
              "on Postgres: client to berth, berth to Postgres), one fdatasync where the answer "
              "must be durable, and the load generator's own CPU for the request, less its half "
              "of the CPU the bare round trip spends on sending and receiving. At four clients, "
              "the CPU this run measured a push to cost, shared by the cores. A ceiling below what "
              "the target needs puts the target beyond this machine (at four clients: at that "
              "cost).\n")
        print(table(["target", "system", "the least a request costs here", "#ceiling", "#target needs",
                     "#measured", "so"], rows))


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    if len(sys.argv) > 2:
        for line in open(sys.argv[2]):
            print(f"- {line.strip()}")
        print()
    run = Run(rows)
    calibration_table(run)
    scenario_tables(run)
    scaling_table(run)
    flatness_table(run)
    memory_table(run)
    seed_table(run)
    targets_table(run)
    ceilings_table(run)


if __name__ == "__main__":
    main()
