"""Root pytest hooks: a closing count of the cells nbval checked in each notebook."""

import collections


def pytest_terminal_summary(terminalreporter):
    """List every notebook nbval ran, with its passed and failed cell counts.

    Works under xdist too: the counts come from the reports the workers send back.
    """
    counts = collections.defaultdict(collections.Counter)
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            path = getattr(report, "nodeid", "").split("::")[0]
            if path.endswith(".ipynb") and getattr(report, "when", "call") == "call":
                counts[path][outcome] += 1
    if not counts:
        return
    terminalreporter.section("notebooks checked by nbval")
    for path in sorted(counts):
        c = counts[path]
        terminalreporter.write_line(
            f"{path}: {c['passed']} cells passed, {c['failed']} failed"
        )
