"""How ``run.py`` prints its figures: targets, baseline and share of it."""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    label: str
    unit: str
    targets: dict[str, float]  # by database; absent: no target
    higher_is_better: bool = True
    raw_key: str = ""  # the baseline figure it is compared with
    # Or compared with another figure of the run, as a share of at least this.
    of_key: str = ""
    min_share: float = 0.0


FIGURES = [
    Figure("drain", "drain, --concurrency 4, {tasks:,} tasks", "/s",
           {"postgres": 10_000, "sqlite": 10_000}, raw_key="drain"),
    Figure("enqueue", "enqueue, one call each", "/s",
           {"postgres": 2_000, "sqlite": 8_000}, raw_key="enqueue"),
    Figure("bulk", "bulk enqueue (enqueue_many)", "/s",
           {"postgres": 50_000, "sqlite": 60_000}, raw_key="bulk"),
    Figure("latency_p50", "idle enqueue -> body start, p50", "ms",
           {"postgres": 1.5, "sqlite": 1.5}, higher_is_better=False),
    Figure("latency_p95", "idle enqueue -> body start, p95", "ms", {}, higher_is_better=False),
    Figure("history", "drain with {history:,} finished tasks", "% of empty",
           {"postgres": 95}),
    Figure("first", "worker start -> first body, 10 queued", "s",
           {"postgres": 0.5, "sqlite": 0.5}, higher_is_better=False),
    Figure("first_backlog", "worker start -> first body, {tasks:,} queued", "s", {},
           higher_is_better=False),
    Figure("limits_plain", "drain, no limits configured", "/s", {}, raw_key="drain"),
    Figure("limits", "drain beside capped and rate-limited tasks", "/s", {},
           of_key="limits_plain", min_share=90.0),
    Figure("log_off", "drain, per-attempt log lines off (WARNING)", "/s", {}, raw_key="drain"),
    Figure("log_on", "drain, per-attempt log lines on (INFO)", "/s", {},
           of_key="log_off", min_share=95.0),
    Figure("pss_slot", "memory per slot process (PSS, largest)", "MB",
           {"postgres": 80, "sqlite": 80}, higher_is_better=False),
    Figure("pss_supervisor", "memory of the supervisor (PSS)", "MB", {}, higher_is_better=False),
    Figure("schedule_p50", "schedule lateness, 3 workers, p50", "ms", {},
           higher_is_better=False),
    Figure("schedule_p99", "schedule lateness, 3 workers, p99", "ms",
           {"postgres": 1000, "sqlite": 1000}, higher_is_better=False),
    Figure("schedule_start_p99", "planned time -> task body start, p99", "ms", {},
           higher_is_better=False),
    Figure("prune_drain_alone", "drain without a prune (alternated)", "/s", {}),
    Figure("prune_drain_during", "drain while pruning {prune_rows:,} tasks", "/s", {}),
    Figure("prune", "drain while pruning, share of before", "% of alone",
           {"postgres": 80, "sqlite": 80}),
    Figure("prune_rows_per_second", "prune rate (tasks + attempt + 2 events)", "/s", {}),
    Figure("prune_drains", "drains run entirely during the prune", "drains", {}),
    Figure("encrypted_plain", "drain, no-ops in plain JSON", "/s", {}, raw_key="drain"),
    Figure("encrypted", "drain, no-ops encrypted (AES-256-GCM)", "/s", {},
           of_key="encrypted_plain", min_share=85.0),
    Figure("typed_decode_us", "decode a typed dataclass argument, per task", "us",
           {"postgres": 20, "sqlite": 20}, higher_is_better=False),
]  # fmt: skip
DRAIN_SHARE_TARGET = 35.0
LIMITED_TASKS = 200  # as measure.LIMITED_TASKS  # % of the raw baseline's drain


def print_table(args: argparse.Namespace, db: str, variant: str, figures: dict[str, float]) -> None:
    title = f"{'PostgreSQL' if db == 'postgres' else 'SQLite'}, {variant} settings"
    print(f"\n== {title} (median of {args.runs} run{'s' if args.runs > 1 else ''}) ==")
    if "raw_drain" in figures:
        print(
            f"raw-SQL baseline: enqueue {figures['raw_enqueue']:,.0f}/s, "
            f"bulk {figures['raw_bulk']:,.0f}/s, drain {figures['raw_drain']:,.0f}/s "
            "(4 processes, batch 50, one attempt row per task)"
        )
    print(f"{'figure':<44} {'value':>14} {'target':>10} {'':4} {'raw':>10} {'share':>7}")
    for figure in FIGURES:
        if figure.key not in figures:
            continue
        value = figures[figure.key]
        label = figure.label.format(
            tasks=args.tasks, history=args.history, prune_rows=getattr(args, "prune_rows", 0)
        )
        target = figure.targets.get(db)
        target_text, verdict = "", ""
        if target is not None:
            sign = ">=" if figure.higher_is_better else "<="
            target_text = f"{sign} {target:,g}"
            met = value >= target if figure.higher_is_better else value <= target
            verdict = "ok" if met else "MISS"
        raw_text, share_text = "", ""
        raw = figures.get(f"raw_{figure.raw_key}") if figure.raw_key else None
        if figure.of_key and figures.get(figure.of_key):
            share = 100 * value / figures[figure.of_key]
            met = share >= figure.min_share
            target_text, verdict = f">= {figure.min_share:g} %", "ok" if met else "MISS"
            share_text = f"{share:.0f} %"
        if raw:
            share = 100 * value / raw
            raw_text, share_text = f"{raw:,.0f}", f"{share:.0f} %"
            if figure.key == "drain" and share < DRAIN_SHARE_TARGET:
                verdict = "MISS"
                share_text += f" (>= {DRAIN_SHARE_TARGET:g} %)"
        print(
            f"{label:<44} {format_value(value, figure.unit):>14} {target_text:>10} "
            f"{verdict:4} {raw_text:>10} {share_text:>7}"
        )
    if "limits" in figures:
        print(f"(limits: the drain alone and beside {LIMITED_TASKS} tasks under Concurrency.SERIAL "
              f"and {LIMITED_TASKS} under RateLimit.CONSERVATIVE, alternated, median of 3 each; "
              "the share is of the drain alone)")  # fmt: skip
    if "log_on" in figures:
        print("(log: the drain with the per-attempt log lines off and on, written to a file, "
              "alternated, median of 3 each; the share is of the lines off)")  # fmt: skip
    if "slots" in figures:
        print(f"(PSS of the supervisor and of {figures['slots']:.0f} slot processes, "
              "from /proc/PID/smaps_rollup, measured once the latency worker has also run 2,000 more tasks)")  # fmt: skip
    sys.stdout.flush()


def format_value(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "us":
        return f"{value:.1f} us"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:.0f} {unit}"
