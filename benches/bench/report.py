"""Markdown tables from the results dict (the JSON file holds everything, this the summary)."""
from __future__ import annotations


def fmt_ms(x):
    if x is None:
        return "error"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_s(x):
    return "–" if x is None else f"{x:,.2f}"


def fmt_bytes(b):
    if b is None:
        return "–"
    if b >= 10e9:
        return f"{b / 1e9:,.1f} GB"
    if b >= 1e6:
        return f"{b / 1e6:,.1f} MB"
    return f"{b / 1e3:,.0f} kB"


def ratio(base, other):
    if base is None or other is None or other == 0:
        return "–"
    r = base / other
    if r >= 10:
        return f"{r:,.0f}x"
    if r >= 0.1:
        return f"{r:.2f}x"
    return f"{r:#.2g}x"


def settings_md(env, runs, warmup) -> str:
    lines = ["| setting | value |", "|---|---|"]
    lines.append(f"| server | {env['server']} |")
    m = env["machine"]
    lines.append(f"| machine | {m['nproc']} cores ({m['cpu']}), {m['memory_gb']} GB RAM, Linux {m['kernel']} |")
    for k, v in env["settings"].items():
        lines.append(f"| {k} | {v} |")
    for k, v in env["session_settings"].items():
        lines.append(f"| {k} (session) | {v} |")
    exts = ", ".join(f"{k} {v}" for k, v in env["extensions"].items()) or "none"
    lines.append(f"| extensions | {exts} |")
    kind = f"{env.get('pg_mergetree_build') or '?'} build"
    if kind == "debug build":
        kind = "**debug build** (unoptimised: mergetree timings not representative)"
    lines.append(f"| pg_mergetree build | {kind}, .so from "
                 f"{env['pg_mergetree_so_mtime']}, source at commit {env['git_commit'] or '?'} |")
    lines.append(f"| timing | median of {runs} runs after {warmup} warm-up, wall clock at the client |")
    return "\n".join(lines)


def settle_cell(facts: dict, tables) -> str:
    """Seconds background merges took after the load, and the parts before and after."""
    if not all("settle_seconds" in facts.get(t, {}) for t in tables):
        return "-"
    secs = sum(facts[t]["settle_seconds"] for t in tables)
    before = sum(facts[t].get("parts_at_load") or 0 for t in tables)
    after = sum(facts[t].get("parts") or 0 for t in tables)
    return f"{secs:.1f}, {before} -> {after}"


def workload_md(w: dict) -> str:
    systems = w["systems"]
    base, others = systems[0], systems[1:]
    head = ["", *systems, *[f"{base} / {o}" for o in others]]
    lines = [f"### {w['title']}", "", "| " + " | ".join(head) + " |",
             "|---|" + "---:|" * (len(head) - 1)]

    def row(label, values, fmt):
        cells = [fmt(values.get(s)) for s in systems] + [ratio(values.get(base), values.get(o)) for o in others]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    load = w.get("load", {})
    tables = list(next(iter(load.values()), {}).keys()) if load else []
    if tables:
        many = len(tables) > 1
        for t in tables if many else []:
            row(f"load {t} (s)", {s: load.get(s, {}).get(t, {}).get("load_seconds") for s in systems}, fmt_s)
        def total(s, key):  # None unless every table of the system was loaded
            facts = load.get(s, {})
            return sum(facts[t][key] for t in tables) if all(t in facts for t in tables) else None

        row("load total (s)" if many else "load (s)", {s: total(s, "load_seconds") for s in systems}, fmt_s)
        if any("settle_seconds" in f for facts in load.values() for f in facts.values()):
            lines.append("| merges after the load: settle (s), parts at load -> after | " + " | ".join(
                settle_cell(load.get(s, {}), tables) for s in systems) + " |" + " |" * len(others))
        for t in tables if many else []:
            row(f"size {t}", {s: load.get(s, {}).get(t, {}).get("total_bytes") for s in systems}, fmt_bytes)
        row("size total" if many else "size", {s: total(s, "total_bytes") for s in systems}, fmt_bytes)
        if any(f.get("settle_seconds") is not None for facts in load.values() for f in facts.values()):
            row("size at load, before merges" if not many else "size total at load, before merges",
                {s: total(s, "total_bytes_at_load") if all("total_bytes_at_load" in load.get(s, {}).get(t, {}) for t in tables) else None
                 for s in systems}, fmt_bytes)
            probes = sorted({p for facts in load.values() for f in facts.values() for p in f.get("probes_at_load_ms", {})})
            for p in probes:
                row(f"{p} at load, before merges (ms)",
                    {s: next((f["probes_at_load_ms"][p] for f in load.get(s, {}).values() if p in f.get("probes_at_load_ms", {})), None)
                     for s in systems}, fmt_ms)
    for name, q in w.get("queries", {}).items():
        mark = "" if q["check"] == "match" else f" **{q['check']}**"
        row(f"{name} (ms){mark}", {s: q.get(s, {}).get("median_ms") for s in systems}, fmt_ms)
    lines.append("")
    lines.append(f"{base} / other above 1: the other system is faster (load, queries) or smaller (size: "
                 f"the compression ratio against {base}). Sizes: pg_total_relation_size (table, TOAST, indexes).")
    shared = w.get("shared_tables") or {}
    if shared:
        lines.append("Shared heap tables, the same for every system (not in the sizes above): " + ", ".join(
            f"{t} ({f['rows']:,} rows, {fmt_bytes(f.get('total_bytes'))})" for t, f in shared.items()) + ".")
    for n in w.get("notes", []):
        lines.append(f"- {n}")
    for f in w.get("failures", []):
        lines.append(f"- **FAILED**: {f}")
    for name, q in w.get("queries", {}).items():
        for p in q.get("problems", []):
            lines.append(f"- **{name}**: {p}")
    return "\n".join(lines)


def full_md(result: dict) -> str:
    parts = [f"## pg_mergetree benchmark, {result['started']}", "",
             f"Command: `{result['command']}`", "",
             settings_md(result["environment"], result["runs"], result["warmup"]), ""]
    for w in result["workloads"].values():
        parts += [workload_md(w), ""]
    return "\n".join(parts)
