#!/usr/bin/env python3
"""Prints each failed test of a CTest JUnit file with the end of its captured output.

    tests/failure_report.py [--lines N] JUNIT...

CI calls it last (.ci/run), so that a failure's name and output close the log instead of lying
in the middle of a parallel run's interleaved lines. A test's output is cut to its last N lines
(default 150): Catch2 prints the failed assertion and its INFO (a server's log) last.
"""
import argparse
import os
import sys
import xml.etree.ElementTree as ET


def failed_cases(path):
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        status = case.get("status", "")
        if status in ("fail", "failed") or case.find("failure") is not None:
            out = case.findtext("system-out") or ""
            failure = case.find("failure")
            message = failure.get("message", "") if failure is not None else ""
            yield case.get("name", "?"), case.get("time", "?"), message, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=150)
    ap.add_argument("junit", nargs="+")
    args = ap.parse_args()
    found = 0
    for path in args.junit:
        if not os.path.exists(path):
            continue
        try:
            cases = list(failed_cases(path))
        except ET.ParseError as e:
            print(f"{path}: not readable JUnit ({e})")
            continue
        for name, secs, message, out in cases:
            found += 1
            lines = out.rstrip("\n").split("\n")
            cut = len(lines) - args.lines
            print(f"=== FAILED: {name} ({secs} s{', ' + message if message else ''}) [{path}]")
            if cut > 0:
                print(f"... ({cut} earlier lines of its output left out)")
                lines = lines[cut:]
            print("\n".join(lines))
            print(f"=== end of {name}")
    if found:
        print(f"{found} failed test(s) above")
    return 0


if __name__ == "__main__":
    sys.exit(main())
