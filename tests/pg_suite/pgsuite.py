#!/usr/bin/env python3
"""Helpers of tests/pg_suite/run.sh (PostgreSQL's own regression suite on a mergetree cluster).

  pgsuite.py schedule SOURCE_SCHEDULE [--subset FILE] [TEST ...]
      print a schedule: SOURCE_SCHEDULE filtered to the tests listed in FILE (upstream's
      order and parallel groups kept), or the given TESTs one after another, or all of it
  pgsuite.py report --schedule S --diffs F --stdout F --log F --accepted F [--accept] ...
      crash check of the server log, comparison of regression.diffs with the accepted
      differences (or, with --accept, rewriting them), summary ending "N passed, M failed"

Accepted differences file (tests/pg_suite/accepted.diffs; see the header written by
write_accepted): one block per test, one entry per diff hunk, normalized (hunk positions,
absolute paths, OIDs, PIDs, timings and Rust source lines do not take part), and classified:
  error  the hunk adds an ERROR line from pg_mergetree (the message contains "mergetree")
  order  the hunk's removed and added lines are the same multiset: rows in another order
         (matched by that multiset alone, so any permutation of the same rows matches)
  doc    anything else: accepted only with a reason, on the hunk or for the whole test
A run fails on a hunk that is not accepted, on a server crash, and on accepted "doc" hunks
without a reason. Accepted hunks that no longer occur are reported as fixed (not a failure).
"""
import argparse
import collections
import hashlib
import os
import re
import sys

CLASSES = ("error", "order", "doc")

# ---------------------------------------------------------------------------- schedule


def read_schedule(path):
    """[(kind, [tests])] for the 'test:' and 'ignore:' lines of a pg_regress schedule."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            m = re.match(r"^(test|ignore):\s*(.*)$", line)
            if m:
                out.append((m.group(1), m.group(2).split()))
    return out


def cmd_schedule(args):
    sched = read_schedule(args.source)
    known = {t for kind, ts in sched if kind == "test" for t in ts}
    if args.tests:
        unknown = [t for t in args.tests if t not in known]
        if unknown:
            sys.exit("unknown test(s): " + " ".join(unknown))
        for t in args.tests:
            print("test: " + t)
        return
    want = None
    if args.subset:
        want = []
        with open(args.subset) as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line:
                    want.extend(line.split())
        unknown = [t for t in want if t not in known]
        if unknown:
            sys.exit("%s: unknown test(s): %s" % (args.subset, " ".join(unknown)))
        want = set(want)
    for kind, ts in sched:
        ts = [t for t in ts if want is None or t in want]
        if ts:
            print("%s: %s" % (kind, " ".join(ts)))


# ---------------------------------------------------------------------------- diffs


class Normalizer:
    """Makes a diff line independent of the run: paths, OIDs, PIDs, timings, Rust lines."""

    def __init__(self, paths):
        # longest first, so a path inside another one is replaced after it
        self.paths = sorted(((p.rstrip("/"), tok) for tok, p in paths if p), key=lambda x: -len(x[0]))
        self.subs = [
            (re.compile(r"\b\d+(?:\.\d+)? ms\b"), "N ms"),
            (re.compile(r"actual time=[\d.]+\.\.[\d.]+"), "actual time=N..N"),
            (re.compile(r"\.rs:\d+(?::\d+)?"), ".rs:N"),
            (re.compile(r"\b(OID|oid|PID|pid|Pid|relfilenode|xid)( ?[=:]? ?)\d+\b"), r"\1\2N"),
            (re.compile(r"\b(pg_temp|pg_toast_temp|pg_toast)_\d+\b"), r"\1_N"),
            (re.compile(r"\bProcess \d+\b"), "Process N"),
            (re.compile(r"\btransaction \d+\b"), "transaction N"),
        ]
        # In server messages, long numbers are OIDs, relfilenodes, part and transaction ids.
        self.msg = re.compile(r"^\s*(?:psql:[^:]*:\d+: )?(ERROR|WARNING|NOTICE|INFO|DETAIL|HINT|CONTEXT|LOG):")
        self.longnum = re.compile(r"\b\d{5,}\b")

    def line(self, line):
        if line == "":
            return " "  # an empty context line whose trailing space an editor removed
        tag, text = line[0], line[1:].rstrip()
        if tag == "\\":
            return line.rstrip()
        for p, tok in self.paths:
            text = text.replace(p, tok)
        for rx, rep in self.subs:
            text = rx.sub(rep, text)
        if self.msg.match(text):
            text = self.longnum.sub("N", text)
        return tag + text


HUNK_RE = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def read_hunk_body(lines, i, n_old, n_new):
    """Lines of a hunk from lines[i] with n_old old and n_new new lines; returns (body, i)."""
    body = []
    while i < len(lines) and (n_old > 0 or n_new > 0 or lines[i].startswith("\\")):
        x = lines[i]
        tag = x[:1]
        if tag == "\\":
            pass
        elif tag == "-":
            n_old -= 1
        elif tag == "+":
            n_new -= 1
        elif tag in (" ", ""):
            n_old -= 1
            n_new -= 1
        else:
            break  # malformed: stop here
        body.append(x)
        i += 1
    return body, i


def parse_diffs(path):
    """{test: [raw hunk bodies]} and the tests that have a diff header, from regression.diffs."""
    hunks = collections.OrderedDict()
    if not path or not os.path.exists(path):
        return hunks
    with open(path, errors="replace") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i, test = 0, None
    while i < len(lines):
        line = lines[i]
        if line.startswith("diff "):
            test = os.path.basename(line.split()[-1])
            test = test[:-4] if test.endswith(".out") else test
            hunks.setdefault(test, [])
            i += 1
            for prefix in ("--- ", "+++ "):
                if i < len(lines) and lines[i].startswith(prefix):
                    i += 1
            continue
        m = HUNK_RE.match(line)
        if m and test is not None:
            n_old = int(m.group(1)) if m.group(1) is not None else 1
            n_new = int(m.group(2)) if m.group(2) is not None else 1
            body, i = read_hunk_body(lines, i + 1, n_old, n_new)
            hunks[test].append(body)
            continue
        if test is not None:  # anything else (a diff error): keep it as a hunk of its own
            hunks[test].append(["+?? " + line])
        i += 1
    return hunks


BIG = 300  # a hunk of more lines is kept as a digest (and a preview) in the accepted file


class Hunk:
    """A normalized diff hunk: class, matching key, and (from a file) reason or digest."""

    def __init__(self, test, body, reason=None, digest=None, cls=None, counts=None):
        self.test, self.body, self.reason, self.digest = test, body, reason, digest
        if digest:  # a big hunk read from the accepted file: body is only its preview
            self.cls, self.key, self._counts = cls or "doc", "sha256:" + digest, counts
            return
        self._counts = None
        removed = [l[1:] for l in body if l.startswith("-")]
        added = [l[1:] for l in body if l.startswith("+")]
        if removed and collections.Counter(removed) == collections.Counter(added):
            self.cls = "order"
            self.key = "order\n" + "\n".join(sorted(removed))
        else:
            err = any(re.match(r"^\+\s*(?:psql:[^:]*:\d+: )?ERROR:.*mergetree", l, re.I) for l in body)
            self.cls = "error" if err else "doc"
            self.key = "\n".join(body)
        if len(body) > BIG:
            self.digest = hashlib.sha256(self.key.encode()).hexdigest()
            self.key = "sha256:" + self.digest

    def counts(self):
        if self._counts:
            return self._counts
        old = sum(1 for l in self.body if l[:1] in (" ", "-"))
        new = sum(1 for l in self.body if l[:1] in (" ", "+"))
        return old, new


def run_hunks(raw, norm):
    return {t: [Hunk(t, [norm.line(l) for l in body]) for body in bodies] for t, bodies in raw.items()}


# ---------------------------------------------------------------------------- accepted file

HEADER = """\
# Accepted differences of PostgreSQL's own regression suite (src/test/regress) run against
# a cluster where every table is a {am} table: tests/pg_suite/run.sh (README: Tests).
# Written by `tests/pg_suite/run.sh --accept` from a run; review it, then edit only reasons.
#
# "=== TEST" starts a test's block; "reason: TEXT" in a block documents all of its "doc" hunks.
# "@@ -OLD +NEW CLASS[: REASON]" starts one diff hunk (OLD context and removed lines, NEW
# context and added lines follow, as in `diff -U3`, normalized: no positions, paths, OIDs,
# PIDs or timings). CLASS is computed from the hunk, not read:
#   error  it adds an ERROR line from pg_mergetree (the message contains "mergetree")
#   order  removed and added lines are the same multiset: rows in another order
#          (matched by that multiset alone: any order of the same rows matches)
#   doc    anything else: needs a one-line REASON, on the hunk or the test's "reason:";
#          "TODO" is no reason: a run fails on it, as on any hunk not listed here.
# A hunk of more than {big} lines is kept as "sha256=" of its normalized text (of its sorted
# rows for "order"), with its first 20 and last 5 lines after "| " to review.
"""


def parse_accepted(path, norm):
    """{test: {'reason': str|None, 'hunks': [Hunk]}} in file order."""
    acc = collections.OrderedDict()
    if not path or not os.path.exists(path):
        return acc
    with open(path) as f:
        lines = f.read().split("\n")
    i, test = 0, None
    while i < len(lines):
        line = lines[i]
        if line.startswith("=== "):
            test = line[4:].strip()
            acc.setdefault(test, {"reason": None, "hunks": []})
            i += 1
        elif line.startswith("reason:") and test is not None:
            acc[test]["reason"] = line[len("reason:"):].strip() or None
            i += 1
        elif line.startswith("@@ ") and test is not None:
            m = re.match(r"^@@ -(\d+) \+(\d+)(?: (\w+))?(?: sha256=([0-9a-f]{64}))?(?::\s*(.*))?$", line)
            if not m:
                sys.exit("%s:%d: bad hunk line: %s" % (path, i + 1, line))
            old, new, reason = int(m.group(1)), int(m.group(2)), (m.group(5) or "").strip() or None
            if m.group(4):  # a big hunk: its digest, then "|" preview lines
                i += 1
                preview = []
                while i < len(lines) and lines[i].startswith("|"):
                    preview.append(lines[i][2:])
                    i += 1
                acc[test]["hunks"].append(Hunk(test, preview, reason, m.group(4), m.group(3), (old, new)))
                continue
            body, i = read_hunk_body(lines, i + 1, old, new)
            acc[test]["hunks"].append(Hunk(test, [norm.line(l) for l in body], reason))
        elif line.strip() == "" or line.startswith("#"):
            i += 1
        else:
            sys.exit("%s:%d: unexpected line: %s" % (path, i + 1, line))
    return acc


def is_todo(reason):
    return not reason or reason.strip().upper().startswith("TODO")


def effective_reason(h, test_reason):
    return h.reason if not is_todo(h.reason) else test_reason


def write_accepted(path, acc, am):
    with open(path + ".tmp", "w") as f:
        f.write(HEADER.format(am=am, big=BIG))
        for test, block in acc.items():
            if not block["hunks"] and not block["reason"]:
                continue
            f.write("\n=== %s\n" % test)
            if block["reason"]:
                f.write("reason: %s\n" % block["reason"])
            for h in block["hunks"]:
                old, new = h.counts()
                tail = h.cls
                if h.cls == "doc":
                    if h.reason:
                        tail += ": " + h.reason
                    elif is_todo(block["reason"]):
                        tail += ": TODO"
                if h.digest:
                    f.write("@@ -%d +%d %s sha256=%s%s\n" % (old, new, h.cls, h.digest, tail[len(h.cls):]))
                    body = h.body
                    if h._counts is None:  # from a run (one read from the file is its preview)
                        body = body[:20] + ["... %d lines ..." % (len(body) - 25)] + body[-5:]
                    for l in body:
                        f.write("| " + l + "\n")
                    continue
                f.write("@@ -%d +%d %s\n" % (old, new, tail))
                for l in h.body:
                    f.write(l + "\n")
    os.replace(path + ".tmp", path)


# ---------------------------------------------------------------------------- server log

CRASH_RE = re.compile(
    r"terminated by signal|exited abnormally|terminated by exception|\bPANIC:\s"
    r"|terminating any other active server processes|all server processes terminated; reinitializing"
)


def crash_report(log):
    """Lines of the server log that show a crash, with the test each crashed backend ran."""
    if not log or not os.path.exists(log):
        return ["server log %s not found" % log]
    with open(log, errors="replace") as f:
        lines = f.read().split("\n")
    app_of = {}  # pid -> application name (pg_regress/<test>) from connection lines
    for line in lines:
        m = re.search(r"\[(\d+)\] (\S+) LOG:  connection authorized: .*application_name=(\S+)", line)
        if m:
            app_of[m.group(1)] = m.group(3)
        else:
            m = re.search(r"\[(\d+)\] (pg_regress/\S+) ", line)
            if m:
                app_of.setdefault(m.group(1), m.group(2))
    out = []
    for n, line in enumerate(lines):
        if CRASH_RE.search(line):
            extra = ""
            m = re.search(r"\(PID (\d+)\)", line)
            if m and m.group(1) in app_of:
                extra = "   [%s]" % app_of[m.group(1)]
            out.append(line + extra)
            # the DETAIL that follows a "terminated by signal" line names the statement
            if n + 1 < len(lines) and "DETAIL:" in lines[n + 1]:
                out.append(lines[n + 1][:400])
    return out


def slow_statements(log, limit=15):
    """Statements the server logged as slow (log_min_duration_statement), slowest first."""
    if not log or not os.path.exists(log):
        return []
    out = []
    rx = re.compile(r"\[\d+\] (\S+) LOG:  duration: ([\d.]+) ms  (?:statement|execute [^:]*): (.*)$")
    stamp = re.compile(r"^\d{4}-\d\d-\d\d ")
    cur = None
    with open(log, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if cur is not None and not stamp.match(line):
                cur[2] += " " + line.strip()  # the statement's next lines
                continue
            cur = None
            m = rx.search(line)
            if m:
                cur = [float(m.group(2)), m.group(1), m.group(3).strip()]
                out.append(cur)
    out.sort(reverse=True)
    return ["%8.1f s  %-26s %s" % (ms / 1000, app, stmt[:150]) for ms, app, stmt in out[:limit]]


# ---------------------------------------------------------------------------- report


def parse_stdout(path):
    """{test: 'ok' | 'FAILED' | 'ignored'} from pg_regress's output."""
    res = {}
    if not os.path.exists(path):
        return res
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"^(?:test\s+|\s+)(\S+)\s+\.\.\. (ok|FAILED|failed \(ignored\))", line)
            if m:
                res[m.group(1)] = {"ok": "ok", "FAILED": "FAILED"}.get(m.group(2), "ignored")
    return res


def show(h, limit=60):
    old, new = h.counts()
    print("  @@ -%d +%d %s%s" % (old, new, h.cls, ": " + h.reason if h.reason else ""))
    for l in h.body[:limit]:
        print("  " + l)
    if len(h.body) > limit:
        print("  ... (%d more lines)" % (len(h.body) - limit))


def cmd_report(a):
    norm = Normalizer([("<srcdir>", a.srcdir), ("<outdir>", a.outdir), ("<libdir>", a.dlpath),
                       ("<root>", a.mt_root)])
    sched = read_schedule(a.schedule)
    tests = [t for kind, ts in sched if kind == "test" for t in ts]
    ignored = {t for kind, ts in sched if kind == "ignore" for t in ts}
    status = parse_stdout(a.stdout)
    hunks = run_hunks(parse_diffs(a.diffs), norm)
    acc = parse_accepted(a.accepted, norm)
    crashes = crash_report(a.log)
    show_max = a.show

    print()
    print("=== crash check (server log %s)" % a.log)
    if crashes:
        print("SERVER CRASHED:")
        for l in crashes:
            print("  " + l)
    elif not a.server_alive:
        print("the server is no longer running")
    else:
        print("no crash")
    crash_ok = not crashes and a.server_alive
    slow = slow_statements(a.log)
    if slow:
        print("slow statements (over log_min_duration_statement; not a failure):")
        for l in slow:
            print("  " + l)
    if a.timed_out:
        print("pg_regress TIMED OUT after %s s (statement timeout %s): tests not reported count as failed"
              % (a.timeout, a.statement_timeout))

    if a.accept:
        return do_accept(a, tests, ignored, status, hunks, acc, crash_ok)

    passed = failed = 0
    new_total = fixed_total = acc_total = 0
    fixed_by_test = collections.OrderedDict()
    lines = []
    for t in tests:
        if t in ignored:
            continue
        st = status.get(t)
        block = acc.get(t, {"reason": None, "hunks": []})
        pool = collections.defaultdict(list)
        for h in block["hunks"]:
            pool[h.key].append(h)
        new, matched, undoc = [], [], []
        for h in hunks.get(t, []):
            if pool.get(h.key):
                e = pool[h.key].pop(0)
                matched.append(e)
                if e.cls == "doc" and is_todo(effective_reason(e, block["reason"])):
                    undoc.append(e)
            else:
                new.append(h)
        fixed = [h for hs in pool.values() for h in hs]
        problems = []
        if st is None:
            problems.append("not run (no result from pg_regress)")
        elif st == "FAILED" and not hunks.get(t):
            problems.append("FAILED without a diff (no results file?)")
        if new and a.crash_only:
            lines.append("diff  %-28s %d difference(s) not in the accepted file (not judged: --crash-only)" % (t, len(new)))
            new_total += len(new)
            new = []
        if new:
            problems.append("%d new difference(s)" % len(new))
        if undoc:
            problems.append("%d accepted 'doc' hunk(s) without a reason" % len(undoc))
        new_total += len(new)
        acc_total += len(matched)
        fixed_total += len(fixed)
        if fixed:
            fixed_by_test[t] = fixed
        cls = collections.Counter(h.cls for h in matched)
        accepted_txt = ", ".join("%d %s" % (cls[c], c) for c in CLASSES if cls[c])
        if problems:
            failed += 1
            lines.append("FAIL  %-28s %s%s" % (t, "; ".join(problems),
                                                 " (accepted: %s)" % accepted_txt if accepted_txt else ""))
        else:
            passed += 1
            if matched:
                lines.append("ok    %-28s accepted: %s" % (t, accepted_txt))
        for h in new[:show_max]:
            lines.append(("new", t, h))
        if len(new) > show_max:
            lines.append("      ... %d more new difference(s) of %s in %s" % (len(new) - show_max, t, a.diffs))
        for h in undoc[:show_max]:
            lines.append(("undoc", t, h))

    print()
    print("=== differences against %s" % a.accepted)
    for l in lines:
        if isinstance(l, tuple):
            kind, t, h = l
            print("  --- %s: %s" % (t, "NEW difference (not in the accepted file)" if kind == "new"
                                    else "accepted 'doc' hunk WITHOUT A REASON"))
            show(h)
        else:
            print(l)
    if fixed_by_test:
        print()
        print("=== FIXED: accepted differences that no longer occur (%d; run --accept to drop them)" % fixed_total)
        for t, fs in fixed_by_test.items():
            cls = collections.Counter(h.cls for h in fs)
            print("fixed %-28s %s" % (t, ", ".join("%d %s" % (cls[c], c) for c in CLASSES if cls[c])))
    ign = [t for t in tests if t in ignored and hunks.get(t)]
    if ign:
        print("(ignored tests with differences, not counted: %s)" % " ".join(ign))
    print()
    if not crash_ok:
        print("(after a crash the tests running then, and those starting during recovery, fail too)")
    print("tests: %d scheduled; hunks: %d accepted, %d new, %d fixed" % (passed + failed, acc_total, new_total, fixed_total))
    if os.path.exists(a.diffs) and os.path.getsize(a.diffs) > 0:
        print("regression.diffs: %s" % a.diffs)
    if crash_ok:
        passed += 1
    else:
        failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def do_accept(a, tests, ignored, status, hunks, acc, crash_ok):
    if not crash_ok:
        print("not writing %s: the server crashed (a crash is never an accepted difference)" % a.accepted)
        print("0 passed, 1 failed")
        return 1
    missing = [t for t in tests if t not in ignored and t not in status]
    if missing:
        print("not writing %s: tests without a result (timeout?): %s" % (a.accepted, " ".join(missing)))
        print("0 passed, 1 failed")
        return 1
    ran = [t for t in tests if t not in ignored]
    out = collections.OrderedDict()
    # Reasons carry over from the old file: per hunk by key, per test as they were.
    old_reason = {}
    for t, block in acc.items():
        for h in block["hunks"]:
            if h.reason and not is_todo(h.reason):
                old_reason.setdefault((t, h.key), h.reason)
    order = ran + [t for t in acc if t not in ran]  # tests of this run first, then the others
    for t in order:
        if t in ran:
            hs = hunks.get(t, [])
            for h in hs:
                h.reason = old_reason.get((t, h.key)) if h.cls == "doc" else None
            treason = acc.get(t, {}).get("reason")
            if hs or treason:
                out[t] = {"reason": treason, "hunks": hs}
        else:
            out[t] = acc[t]
    # upstream's order in the file, whatever the run's
    if a.source_schedule:
        rank = {t: i for i, t in enumerate(t for kind, ts in read_schedule(a.source_schedule) for t in ts)}
        out = collections.OrderedDict(sorted(out.items(), key=lambda kv: rank.get(kv[0], len(rank))))
    write_accepted(a.accepted, out, a.am)

    print()
    print("=== wrote %s from this run (%d tests run; entries of other tests kept)" % (a.accepted, len(ran)))
    print("%-28s %6s %6s %6s %6s" % ("test", "error", "order", "doc", "TODO"))
    tot = collections.Counter()
    todo = []
    for t in ran:
        if t not in out:
            continue
        block = out[t]
        c = collections.Counter(h.cls for h in block["hunks"])
        td = [h for h in block["hunks"] if h.cls == "doc" and is_todo(effective_reason(h, block["reason"]))]
        tot.update(c)
        tot["TODO"] += len(td)
        todo.extend(td)
        print("%-28s %6d %6d %6d %6d" % (t, c["error"], c["order"], c["doc"], len(td)))
    print("%-28s %6d %6d %6d %6d" % ("total", tot["error"], tot["order"], tot["doc"], tot["TODO"]))
    if todo:
        print()
        print("!" * 78)
        print("!!! %d UNCLASSIFIED hunk(s): neither a mergetree ERROR nor row order. Each needs a" % len(todo))
        print("!!! reason: replace 'doc: TODO' on the hunk, or add 'reason: ...' under '=== TEST'.")
        print("!!! Until then a run fails on them. By test: " + ", ".join(
            "%s (%d)" % (t, n) for t, n in collections.Counter(h.test for h in todo).items()))
        print("!" * 78)
        for h in todo[:a.show]:
            print("  --- %s" % h.test)
            show(h, 30)
        if len(todo) > a.show:
            print("  ... %d more in %s" % (len(todo) - a.show, a.accepted))
    print("%d passed, 0 failed" % (len(ran) + 1))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("schedule")
    s.add_argument("source")
    s.add_argument("--subset")
    s.add_argument("tests", nargs="*")
    r = sub.add_parser("report")
    r.add_argument("--schedule", required=True, help="the schedule that ran")
    r.add_argument("--source-schedule", help="upstream's parallel_schedule (order of the accepted file)")
    r.add_argument("--diffs", required=True)
    r.add_argument("--stdout", required=True, help="pg_regress's output")
    r.add_argument("--log", required=True, help="server log")
    r.add_argument("--accepted", required=True)
    r.add_argument("--accept", action="store_true")
    r.add_argument("--am", default="mergetree")
    r.add_argument("--srcdir", default="")
    r.add_argument("--outdir", default="")
    r.add_argument("--dlpath", default="")
    r.add_argument("--mt-root", default="")
    r.add_argument("--server-alive", type=int, default=1)
    r.add_argument("--timed-out", type=int, default=0)
    r.add_argument("--timeout", default="")
    r.add_argument("--statement-timeout", default="")
    r.add_argument("--show", type=int, default=20, help="hunks shown per test")
    r.add_argument("--crash-only", action="store_true",
                   help="differences are listed, not judged: a run fails on crashes, timeouts and tests without a result")
    a = p.parse_args()
    if a.cmd == "schedule":
        cmd_schedule(a)
        return 0
    return cmd_report(a)


if __name__ == "__main__":
    sys.exit(main())
