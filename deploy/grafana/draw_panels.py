#!/usr/bin/python3
"""Draw the panels of deploy/grafana-dashboard.json from saved /metrics scrapes, into one PNG.

For a benchmark or a test run where no Prometheus or Grafana is at hand: save the admin
listener's /metrics every N seconds, then draw the same panels from the files.

  # Scrape 120 times, once a second, into /tmp/run1 (0001.txt, 0002.txt, ...), then draw:
  deploy/grafana/draw_panels.py --scrape http://127.0.0.1:9901/metrics --count 120 \\
      --interval 1 --dir /tmp/run1 --out /tmp/run1.png
  # Draw from scrapes already saved (every 5 s), only the routes api and hello:
  deploy/grafana/draw_panels.py /tmp/run2 --interval 5 --route api --route hello --out run2.png

Scrape files are named by their sequence number (0001.txt, 0002.txt, ...; any width) and are
taken to be `--interval` seconds apart: scrape n is at (n - first n) * interval seconds, so a
missing file (a failed scrape) leaves its moment out and does not shift the later ones. What is computed, as the dashboard's PromQL would:
  rates       the increase between two consecutive scrapes over their distance in seconds, per
              series, then summed; a counter that went down was reset and counts from 0 (as
              Prometheus' rate does); a series first seen in a scrape counts from 0 (unlike
              Prometheus, which needs two samples: a status code seen for the first time is
              not lost);
  quantiles   Prometheus' histogram_quantile over those per-interval bucket increases: linear
              interpolation inside the bucket holding the rank, 0 as the lower bound of the
              first bucket, the highest finite bound when the rank falls in +Inf;
  gauges      the scraped values, summed;
  the stat    config reloads: the increase over the last hour of the capture (the whole capture
              if shorter), without Prometheus' extrapolation to the window's edges.
The dashboard's rates are over $__rate_interval (several scrapes); these are over one interval,
so they are noisier at a short interval.

Needs Debian's python3-matplotlib and python3-prometheus-client (apt-get install ...). The
first line names Debian's /usr/bin/python3, where those packages are; elsewhere run it with
a python3 that has matplotlib and prometheus_client.
"""

import argparse
import math
import os
import re
import sys
import time
import urllib.error
import urllib.request

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter, LogLocator, MaxNLocator, NullFormatter
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as e:  # a message beats a traceback
    sys.exit(
        f"draw_panels.py: {e}\n"
        "  needs python3-matplotlib and python3-prometheus-client "
        "(apt-get install python3-matplotlib python3-prometheus-client) and a python3 that "
        "sees them: /usr/bin/python3 on Debian"
    )

NAN = float("nan")
SCRAPE_NAME = re.compile(r"^(\d+)\.txt$")
STATUS = re.compile(r"[1-5][0-9][0-9]")


# --- reading scrapes -------------------------------------------------------------------------


class Scrapes:
    """Scrapes in time order: t[i] seconds after the first, s[i] = {sample name: {labels: v}}."""

    def __init__(self, directory, interval):
        found = []
        for entry in os.listdir(directory):
            m = SCRAPE_NAME.match(entry)
            if m:
                found.append((int(m.group(1)), entry))
        found.sort()
        if not found:
            raise SystemExit(f"draw_panels.py: no scrape files (0001.txt, ...) in {directory}")
        self.t, self.s, self.skipped = [], [], []
        first = found[0][0]
        for n, entry in found:
            path = os.path.join(directory, entry)
            try:
                with open(path, encoding="utf-8") as f:
                    samples = parse(f.read())
            except (ValueError, UnicodeDecodeError) as e:  # a truncated or non-metrics file
                print(f"draw_panels.py: skipping {path}: not Prometheus text ({e})",
                      file=sys.stderr)
                self.skipped.append(entry)
                continue
            self.t.append((n - first) * interval)
            self.s.append(samples)
        if not self.s:
            raise SystemExit(f"draw_panels.py: no scrape in {directory} could be parsed")
        self.first_mtime = os.path.getmtime(os.path.join(directory, found[0][1]))

    # Every function below takes `key`: labels (a dict) -> a tuple naming the group the series
    # is summed into, or None to leave the series out (a filter).

    def gauge(self, name, key):
        """sum by (key) (name): {group: [value per scrape, NaN where the group is absent]}."""
        out = {}
        for i, samples in enumerate(self.s):
            for labels, v in samples.get(name, {}).items():
                g = key(dict(labels))
                if g is None or math.isnan(v):
                    continue
                row = out.setdefault(g, [NAN] * len(self.s))
                row[i] = v if math.isnan(row[i]) else row[i] + v
        return self.t, out

    def rate(self, name, key):
        """sum by (key) (rate(name)) between consecutive scrapes: times t[1:], {group: [...]}."""
        n = len(self.s) - 1
        out = {}
        for i in range(1, len(self.s)):
            dt = self.t[i] - self.t[i - 1]
            prev = self.s[i - 1].get(name, {})
            for labels, v in self.s[i].get(name, {}).items():
                g = key(dict(labels))
                if g is None or math.isnan(v):
                    continue
                p = prev.get(labels, 0.0)
                delta = v - p if v >= p else v  # a reset: the counter restarted from 0
                row = out.setdefault(g, [NAN] * n)
                r = delta / dt
                row[i - 1] = r if math.isnan(row[i - 1]) else row[i - 1] + r
        return self.t[1:], out

    def increase_last(self, name, key, window):
        """sum by (key) (increase(name[window])) at the last scrape: {group: value}."""
        end = self.t[-1]
        out = {}
        for i in range(1, len(self.s)):
            if self.t[i] <= end - window:
                continue
            prev = self.s[i - 1].get(name, {})
            for labels, v in self.s[i].get(name, {}).items():
                g = key(dict(labels))
                if g is None:
                    continue
                p = prev.get(labels, 0.0)
                out[g] = out.get(g, 0.0) + (v - p if v >= p else v)
        if len(self.s) == 1:  # no interval: nothing can have increased
            for labels in self.s[0].get(name, {}):
                g = key(dict(labels))
                if g is not None:
                    out.setdefault(g, 0.0)
        return out

    def quantile(self, q, histogram, key):
        """histogram_quantile(q, sum by (key, le) (rate(histogram_bucket)))."""

        def with_le(labels):
            g = key(labels)
            return None if g is None or "le" not in labels else g + (labels["le"],)

        times, rates = self.rate(histogram + "_bucket", with_le)
        groups = {}
        for g_le, row in rates.items():
            groups.setdefault(g_le[:-1], []).append((float(g_le[-1]), row))
        out = {}
        for g, buckets in groups.items():
            out[g] = [
                bucket_quantile(q, [(le, row[i]) for le, row in buckets if not math.isnan(row[i])])
                for i in range(len(times))
            ]
        return times, out


def parse(text):
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.endswith("_created"):  # client libraries' creation times, not values
                continue
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = float(s.value)
    return samples


def bucket_quantile(q, buckets):
    """Prometheus' bucketQuantile: buckets are (upper bound, cumulative count), in any order."""
    if not buckets:
        return NAN
    buckets = sorted(buckets)
    if not math.isinf(buckets[-1][0]):
        return NAN
    # Equal bounds (one series per le after the sum) fold into one; counts made monotonic, as
    # Prometheus does for buckets scraped at slightly different moments.
    merged = []
    for le, c in buckets:
        if merged and merged[-1][0] == le:
            merged[-1][1] += c
        else:
            merged.append([le, c])
    peak = 0.0
    for b in merged:
        peak = b[1] = max(peak, b[1])
    if len(merged) < 2:
        return NAN
    total = merged[-1][1]
    if total == 0:
        return NAN
    rank = q * total
    b = next(i for i, (_, c) in enumerate(merged) if c >= rank or i == len(merged) - 1)
    if b == len(merged) - 1:
        return merged[-2][0]
    if b == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start, end, count = 0.0, merged[b][0], merged[b][1]
    if b > 0:
        start = merged[b - 1][0]
        count -= merged[b - 1][1]
        rank -= merged[b - 1][1]
    return start + (end - start) * (rank / count)


# --- the panels ------------------------------------------------------------------------------


def by(*names, routes=None):
    """A key: the values of `names`; with `routes`, series of other routes are left out."""

    def key(labels):
        if routes is not None and "route" in labels and labels["route"] not in routes:
            return None
        return tuple(labels.get(n, "") for n in names)

    return key


def status_class(routes):
    def key(labels):
        if routes is not None and labels.get("route") not in routes:
            return None
        code = labels.get("code", "")  # "other": a status outside 100..599
        return (labels.get("route", ""), code[0] + "xx" if STATUS.fullmatch(code) else "other")

    return key


def panels(sc, routes):
    """The dashboard's panels, in its order: (title, unit, kind, [(legend prefix, times, series)])."""
    r = routes
    out = []
    add = lambda title, unit, *lines, kind="ts": out.append((title, unit, kind, list(lines)))
    add("Requests/s by route and status class", "req/s",
        ("", *sc.rate("edged_requests_total", status_class(r))))
    add("Time to flush p50 / p99 by route", "s",
        ("p50 ", *sc.quantile(0.5, "edged_request_duration_seconds", by("route", routes=r))),
        ("p99 ", *sc.quantile(0.99, "edged_request_duration_seconds", by("route", routes=r))))
    add("Background task outcomes/s", "tasks/s",
        ("", *sc.rate("edged_background_tasks_total", by("outcome", routes=r))))
    add("Background tasks running", "tasks",
        ("running", *sc.gauge("edged_background_tasks_running", by())))
    add("Post-response time p99 by route", "s",
        ("p99 ", *sc.quantile(0.99, "edged_post_response_seconds", by("route", routes=r))))
    add("Request CPU p99 by route", "s",
        ("p99 ", *sc.quantile(0.99, "edged_request_cpu_seconds", by("route", routes=r))))
    add("Subrequests/s by upstream and outcome", "req/s",
        ("", *sc.rate("edged_subrequests_total", by("upstream", "outcome"))))
    add("Upstream connections by state", "connections",
        ("", *sc.gauge("edged_upstream_connections", by("upstream", "state"))))
    add("Worker pool threads / busy / queued", "",
        ("threads", *sc.gauge("edged_worker_pool_threads", by())),
        ("busy", *sc.gauge("edged_worker_pool_busy", by())),
        ("queued", *sc.gauge("edged_worker_pool_queued", by())))
    add("Worker pool items/s by outcome", "items/s",
        ("", *sc.rate("edged_worker_pool_items_total", by("outcome"))))
    add("Jobs by state", "jobs", ("", *sc.gauge("edged_jobs", by("state"))))
    add("Jobs ended/s by result", "jobs/s",
        ("", *sc.rate("edged_jobs_total", by("result"))))
    add("Active connections", "connections",
        ("active", *sc.gauge("edged_connections_active", by())))
    add("Connections accepted / rejected per second", "conn/s",
        ("", *sc.rate("edged_connections_total", by("result"))))
    window = min(3600.0, sc.t[-1])
    add(f"Config reloads (last {fmt_span(window)})", "",
        ("", None, sc.increase_last("edged_config_reloads_total", by("result"), 3600.0)),
        kind="stat")
    return out


def fmt_span(seconds):
    if seconds >= 3600:
        return f"{seconds / 3600:g}h"
    if seconds >= 60:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:.0f}s"


# --- drawing ---------------------------------------------------------------------------------

MAX_LEGEND = 10
COLORS = {"error": "tab:red", "rejected": "tab:red", "ok": "tab:green", "accepted": "tab:blue"}


def draw(sc, routes, out, columns, title):
    ps = panels(sc, routes)
    rows = math.ceil(len(ps) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.4 * columns, 3.7 * rows), squeeze=False)
    minutes = sc.t[-1] > 900
    for ax, (ptitle, unit, kind, lines) in zip(axes.flat, ps):
        ax.set_title(ptitle, fontsize=10, loc="left")
        if kind == "stat":
            draw_stat(ax, lines[0][2])
            continue
        # With several queries over the same groups (p50 and p99 by route) a group keeps its
        # colour and each query has its line style.
        by_group = len(lines) > 1 and any(g for _, _, series in lines for g in series)
        drawn, colors = [], {}
        for li, (prefix, times, series) in enumerate(lines):
            x = [t / 60 for t in times] if minutes else times
            for g, ys in series.items():
                if all(math.isnan(v) for v in ys):
                    continue
                label = (prefix + " ".join(g)).strip() or "value"
                kw = {}
                if by_group:
                    kw["color"] = colors.setdefault(g, f"C{len(colors) % 10}")
                    kw["linestyle"] = ("-", "--", ":")[li % 3]
                elif len(series) <= 3 and label.split()[-1] in COLORS:
                    kw["color"] = COLORS[label.split()[-1]]
                drawn.append((max(v for v in ys if not math.isnan(v)), label, x, ys, kw))
        if not drawn:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", color="grey",
                    transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        drawn.sort(key=lambda d: -d[0])  # the legend lists the largest first
        for n, (_, label, x, ys, kw) in enumerate(drawn):
            ax.plot(x, ys, linewidth=1.1, marker="." if len(x) <= 2 else None,
                    label=label if n < MAX_LEGEND else None, **kw)
        handles, labels = ax.get_legend_handles_labels()
        if len(drawn) > MAX_LEGEND:
            handles.append(plt.Line2D([], [], linestyle="none"))
            labels.append(f"+{len(drawn) - MAX_LEGEND} more")
        ax.legend(handles, labels, fontsize=7, loc="best", framealpha=0.8,
                  ncol=2 if len(labels) > 5 else 1)
        if unit == "s":
            # Latencies span 100 us .. 10 s (the buckets): a log scale shows p50 beside p99.
            ax.set_yscale("log")
            lo, hi = ax.get_ylim()
            # Within two decades label 1-2-5 steps, otherwise powers of ten only.
            subs = (1.0, 2.0, 5.0) if hi / lo < 100 else (1.0,)
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
            ax.yaxis.set_major_formatter(EngFormatter(unit="s", places=0))
            ax.yaxis.set_minor_formatter(NullFormatter())
        else:
            ax.set_ylim(bottom=0)
            ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=unit in
                                                   ("tasks", "connections", "jobs", "")))
            ax.set_ylabel(unit, fontsize=8)
        ax.set_xlabel("minutes" if minutes else "seconds", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(ps):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=12, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(out, dpi=90)
    plt.close(fig)


def draw_stat(ax, values):
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    if not values:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", color="grey",
                transform=ax.transAxes)
        return
    items = sorted(values.items())
    for n, (g, v) in enumerate(items):
        name = " ".join(g) or "value"
        color = "tab:red" if name == "error" and v > 0 else "tab:green"
        y = 1 - (n + 0.5) / len(items)
        ax.text(0.05, y, name, fontsize=16, va="center", transform=ax.transAxes)
        ax.text(0.95, y, f"{v:.0f}", fontsize=28, va="center", ha="right", color=color,
                weight="bold", transform=ax.transAxes)


# --- scraping --------------------------------------------------------------------------------


def scrape(url, count, interval, directory):
    os.makedirs(directory, exist_ok=True)
    if any(SCRAPE_NAME.match(e) for e in os.listdir(directory)):
        raise SystemExit(f"draw_panels.py: {directory} already holds scrape files; "
                         "give an empty or new directory")
    width = max(4, len(str(count)))
    timeout = min(10.0, max(1.0, interval))
    start = time.monotonic()
    failed = 0
    for i in range(count):
        delay = start + i * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                body = resp.read()
        except (urllib.error.URLError, OSError) as e:  # HTTPError is a URLError
            failed += 1
            print(f"draw_panels.py: scrape {i + 1}/{count} failed: {e}", file=sys.stderr)
            continue  # a missing file: the drawing shows a gap there
        path = os.path.join(directory, f"{i + 1:0{width}d}.txt")
        with open(path + ".part", "wb") as f:
            f.write(body)
        os.replace(path + ".part", path)
    print(f"draw_panels.py: {count - failed} of {count} scrapes saved in {directory}",
          file=sys.stderr)
    return count - failed


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Draw the edged dashboard's panels from saved /metrics scrapes "
                    "(or scrape them first with --scrape).")
    ap.add_argument("directory", nargs="?", help="the scrapes' directory (or --dir)")
    ap.add_argument("--dir", help="the scrapes' directory: read, or written by --scrape")
    ap.add_argument("--interval", type=float, default=1.0,
                    help="seconds between scrapes (default 1)")
    ap.add_argument("--out", help="the PNG to write (default panels.png; with --scrape, none "
                                  "unless given)")
    ap.add_argument("--route", action="append",
                    help="only this route's series (repeatable; default all)")
    ap.add_argument("--columns", type=int, default=3, help="panels per row (default 3)")
    ap.add_argument("--title", help="the figure's title")
    ap.add_argument("--scrape", metavar="URL",
                    help="first fetch URL (e.g. http://127.0.0.1:9901/metrics) --count times")
    ap.add_argument("--count", type=int, default=60, help="scrapes to take (default 60)")
    a = ap.parse_args(argv)
    directory = a.dir or a.directory
    if not directory:
        ap.error("give the scrapes' directory (positional or --dir)")
    if a.dir and a.directory and a.dir != a.directory:
        ap.error("give the directory once")
    if a.interval <= 0:
        ap.error("--interval must be above 0")
    if a.columns < 1:
        ap.error("--columns must be at least 1")
    if a.scrape:
        if a.count < 1:
            ap.error("--count must be at least 1")
        if scrape(a.scrape, a.count, a.interval, directory) == 0:
            return 1
        if not a.out:
            return 0
    sc = Scrapes(directory, a.interval)
    if len(sc.s) < 2:
        print("draw_panels.py: one scrape only: rates and quantiles need two", file=sys.stderr)
    out = a.out or "panels.png"
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sc.first_mtime))
    title = a.title or (
        f"edged — {os.path.abspath(directory)}: {len(sc.s)} scrapes every {a.interval:g}s "
        f"from {when}" + (f", routes {', '.join(a.route)}" if a.route else "")
        + (f" ({len(sc.skipped)} unreadable, skipped)" if sc.skipped else ""))
    draw(sc, set(a.route) if a.route else None, out, a.columns, title)
    print(f"draw_panels.py: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
