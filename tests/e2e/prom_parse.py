#!/usr/bin/python3
"""Parses a Prometheus text exposition with the reference parser (python3-prometheus-client)
and prints every sample as JSON: {"name{label=value,...}": value}, labels sorted by name.

Exits 1 when the text does not parse, or when a histogram is malformed: its buckets must be
cumulative (never decreasing as le grows), the last one must be le="+Inf", and _count must
equal the +Inf bucket."""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def key(name, labels):
    inner = ",".join(f"{k}={labels[k]}" for k in sorted(labels))
    return f"{name}{{{inner}}}"


def main(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    out = {}
    problems = []
    for family in text_string_to_metric_families(text):
        series = {}
        for s in family.samples:
            out[key(s.name, s.labels)] = s.value
            if family.type == "histogram":
                base = {k: v for k, v in s.labels.items() if k != "le"}
                entry = series.setdefault(key(family.name, base), {"buckets": [], "count": None})
                if s.name.endswith("_bucket"):
                    entry["buckets"].append((float(s.labels["le"]), s.value))
                elif s.name.endswith("_count"):
                    entry["count"] = s.value
        for name, entry in series.items():
            buckets = sorted(entry["buckets"])
            if not buckets or not math.isinf(buckets[-1][0]):
                problems.append(f"{name}: no +Inf bucket")
                continue
            counts = [c for _, c in buckets]
            if any(b < a for a, b in zip(counts, counts[1:])):
                problems.append(f"{name}: buckets not cumulative: {counts}")
            if entry["count"] != counts[-1]:
                problems.append(f"{name}: _count {entry['count']} != +Inf bucket {counts[-1]}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
