"""Which metric names a PromQL expression reads.

Not a full PromQL parser: enough to find every metric name in our rules and dashboards, so
a test can check each one against the app's real /metrics exposition. Strings, label matchers,
range selectors, grouping clauses and Grafana variables are removed first; what is left that
looks like an identifier and is neither a function, a keyword nor a number is a metric name.
"""

from __future__ import annotations

import re

KEYWORDS = frozenset(
    [
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "atan2",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
        "inf",
        "nan",
    ]
)

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
_IDENT = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


def _strip(expr: str) -> str:
    expr = _GRAFANA_VAR.sub("1", expr)
    expr = _RANGE.sub("", expr)
    return _GROUPING.sub("", expr)


def metric_names(expr: str) -> set[str]:
    """Metric names read by `expr` (recording-rule names included; they contain a colon)."""
    stripped = _SELECTOR.sub(lambda m: m.group(1) or "", _strip(_STRING.sub('""', expr)))
    return {name for name in _IDENT.findall(stripped) if name.lower() not in KEYWORDS}


def selector_labels(expr: str) -> dict[str, set[str]]:
    """For each `metric{...}` in `expr`: the label names its matchers use."""
    labels: dict[str, set[str]] = {}
    # Matchers hold strings with braces at most in regexes; blank the strings' contents first.
    blanked = _STRING.sub('""', _strip(expr))
    for match in _SELECTOR.finditer(blanked):
        name = match.group(1)
        if name and name.lower() not in KEYWORDS:
            labels.setdefault(name, set()).update(_MATCHER_LABEL.findall(match.group(2)))
    return labels
