"""Turns bench/results/latest.jsonl (one line per run) into one markdown table per
scenario: each system's median over the runs, and berth's ratio to the peer.

    python3 bench/report.py bench/results/latest.jsonl [meta.txt]
"""
import json
import statistics
import sys
from collections import OrderedDict

PEERS = ("moto", "registry")
BERTHS = ("berth-sqlite", "berth-pg")


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    if len(sys.argv) > 2:
        for line in open(sys.argv[2]):
            print(f"- {line.strip()}")
        print()
    scenarios = OrderedDict()
    for r in rows:
        key = (r["result"]["concurrency"], r["target"])
        scenarios.setdefault(r["label"], OrderedDict()).setdefault(key, []).append(r["result"])
    for label, groups in scenarios.items():
        blob = any(x["mb_per_s"] > 0 for g in groups.values() for x in g)
        unit = "MiB/s" if blob else "req/s"
        print(f"### {label}\n")
        print(f"| concurrency | system | {unit} (median) | p50 ms | p99 ms | errors | loadgen CPU (cores) | berth / peer |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|")
        for conc in sorted({c for c, _ in groups}):
            med = {}
            for (c, target), runs in groups.items():
                if c != conc:
                    continue
                tput = statistics.median(x["mb_per_s"] if blob else x["rps"] for x in runs)
                med[target] = (
                    tput,
                    statistics.median(x["p50_ms"] for x in runs),
                    statistics.median(x["p99_ms"] for x in runs),
                    sum(x["errors"] for x in runs),
                    statistics.median(x.get("loadgen_cpu_share", 0.0) for x in runs),
                )
            peer = next((p for p in PEERS if p in med), None)
            for target, (tput, p50, p99, errs, cpu) in med.items():
                ratio = ""
                if target in BERTHS and peer and med[peer][0] > 0:
                    ratio = f"**{tput / med[peer][0]:.1f}x**"
                print(f"| {conc} | {target} | {tput:,.1f} | {p50:.2f} | {p99:.2f} | {errs} | {cpu:.2f} | {ratio} |")
        print()


if __name__ == "__main__":
    main()
