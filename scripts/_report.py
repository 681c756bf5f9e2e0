"""The probes' report: a line per check, notes, and the findings summary at the end.

The probes run as `.venv/bin/python scripts/X.py`, so this folder is on `sys.path` and they
import it as `_report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Report:
    """Checks counted as they are printed; a failed one is a finding."""

    findings: list[str] = field(default_factory=list)
    checks: int = 0

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        """Print `[ok  ]` or `[FAIL]` with `what` (and `detail` on failure); returns `ok`."""
        self.checks += 1
        mark = "ok  " if ok else "FAIL"
        print(f"  [{mark}] {what}" + (f" — {detail}" if detail and not ok else ""))
        if not ok:
            self.findings.append(f"{what}: {detail}" if detail else what)
        return ok

    def note(self, text: str) -> None:
        """A figure or an observation that is not a check."""
        print(f"  [info] {text}")

    def finish(self) -> int:
        """Print the count of checks and every finding; the exit status (1 on a finding)."""
        print(f"\n{self.checks} checks, {len(self.findings)} findings")
        for finding in self.findings:
            print(f"  FINDING: {finding}")
        return 1 if self.findings else 0
