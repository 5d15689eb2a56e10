"""The run's table, and the ratio of our TPS to the best peer's at each alpha (goal: at least 3x)."""

from __future__ import annotations

from typing import Any

from keynote_bench.runner import Measurement, SystemOutcome

GOAL_RATIO = 3.0
#: Issue 14, goal 2: our TPS at least this share of the client's own ceiling (the no-op server).
GOAL_CEILING_SHARE = 0.9


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def medians(outcomes: list[SystemOutcome]) -> list[tuple[Measurement, list[Measurement]]]:
    """Per system and alpha (in run order): the median-TPS round and all its rounds (one with --repeat 1)."""
    out = []
    for o in outcomes:
        alphas = list(dict.fromkeys(m.alpha for m in o.measurements))
        for alpha in alphas:
            rounds = [m for m in o.measurements if m.alpha == alpha]
            by_tps = sorted(rounds, key=lambda m: m.tps)
            out.append((by_tps[(len(by_tps) - 1) // 2], rounds))
    return out


def ratios(outcomes: list[SystemOutcome]) -> list[dict[str, Any]]:
    """Per alpha: our (median) TPS, the best peer's, and their ratio (None where either side is missing)."""
    alphas = sorted({m.alpha for o in outcomes for m in o.measurements})
    picked = [median for median, _rounds in medians(outcomes)]
    rows = []
    for alpha in alphas:
        at = [m for m in picked if m.alpha == alpha]
        ours = next((m for m in at if m.is_ours), None)
        peers = [m for m in at if not m.is_ours and not m.is_ceiling]
        ceiling = next((m for m in at if m.is_ceiling), None)
        best = max(peers, key=lambda m: m.tps, default=None)
        ratio = ours.tps / best.tps if ours is not None and best is not None and best.tps > 0 else None
        share = ours.tps / ceiling.tps if ours is not None and ceiling is not None and ceiling.tps > 0 else None
        rows.append({
            "alpha": alpha,
            "ours_tps": ours.tps if ours else None,
            "best_peer": best.system if best else None,
            "best_peer_tps": best.tps if best else None,
            "ratio": ratio,
            "meets_goal": None if ratio is None else ratio >= GOAL_RATIO,
            "ceiling_tps": ceiling.tps if ceiling else None,
            "ceiling_share": share,
        })
    return rows


def _row(m: Measurement, rounds: list[Measurement]) -> list[str]:
    r = m.result
    tps = f"{m.tps:,.0f}"
    if len(rounds) > 1:
        tps += f" ({min(x.tps for x in rounds):,.0f}-{max(x.tps for x in rounds):,.0f})"
    return [
        m.system,
        f"{m.alpha:g}",
        tps,
        _fmt(r.get("p50_ms"), ".2f"),
        _fmt(r.get("p99_ms"), ".2f"),
        str(int(r.get("failed", 0)) + int(r.get("stuck", 0))),
        _fmt(r.get("gen_cores"), ".2f"),
        _fmt(m.server_cores, ".2f"),
        _fmt(m.server_us_per_call, ".0f"),
        _fmt(m.loop_us_per_call, ".0f"),
        str(r.get("protocol", "")),
    ]


def render(outcomes: list[SystemOutcome]) -> str:
    header = ["system", "alpha", "TPS", "p50 ms", "p99 ms", "failures", "gen CPU", "server CPU", "srv us/call", "loop us/call",
              "protocol"]
    rows = [_row(m, rounds) for m, rounds in medians(outcomes)]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.rjust(w) if i in (1, 2, 3, 4, 5, 6, 7, 8, 9) else c.ljust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    out = [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows), ""]
    out.append("gen CPU / server CPU: cores used during the window (of 2) by the load generator / the server")
    out.append("processes (PostgreSQL: aiohttp peer + postmaster and its backends); srv us/call: server CPU")
    out.append("time per successful call; loop us/call: the same for the first server process's main thread")
    out.append("(our event loop). With --repeat: the median round, TPS range over the rounds in brackets.")
    out.append("")
    for o in outcomes:
        if o.skipped:
            out.append(f"{o.system}: SKIPPED: {o.skipped}")
        if o.failed:
            out.append(f"{o.system}: FAILED: {o.failed}")
        if o.sum_check:
            out.append(f"{o.system}: balance check {o.sum_check}")
        out.extend(o.profiles)
    out.append("")
    for r in ratios(outcomes):
        if r["ceiling_share"] is not None:
            verdict = "meets" if r["ceiling_share"] >= GOAL_CEILING_SHARE else "BELOW"
            out.append(
                f"alpha {r['alpha']:g}: ours / client ceiling (no-op server, same generator) = "
                f"{r['ceiling_share']:.2f} ({verdict} the {GOAL_CEILING_SHARE:g} goal)"
            )
        if r["ratio"] is None:
            out.append(f"alpha {r['alpha']:g}: no ratio (need our server and at least one peer)")
        else:
            verdict = "meets" if r["meets_goal"] else "BELOW"
            out.append(
                f"alpha {r['alpha']:g}: ours / best peer ({r['best_peer']}) = {r['ratio']:.2f}x "
                f"({verdict} the {GOAL_RATIO:g}x goal)"
            )
    return "\n".join(out)


def as_json(outcomes: list[SystemOutcome]) -> dict[str, Any]:
    return {
        "systems": [
            {
                "system": o.system,
                "skipped": o.skipped,
                "failed": o.failed,
                "sum_check": o.sum_check,
                "measurements": [
                    {
                        "alpha": m.alpha,
                        "server_cpu_s": m.server_cpu_s,
                        "server_cores": m.server_cores,
                        "server_us_per_call": m.server_us_per_call,
                        "loop_us_per_call": m.loop_us_per_call,
                        **m.result,
                    }
                    for m in o.measurements
                ],
            }
            for o in outcomes
        ],
        "ratios": ratios(outcomes),
    }
