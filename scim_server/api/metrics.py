"""Request metrics in the Prometheus text exposition format (version 0.0.4), served at ``/metrics``.

Counted per process (each worker has its own; Prometheus sums them by instance):

- ``scim_requests_total{route,method,status}``: answered requests by route template (never a raw
  path), method and status;
- ``scim_request_duration_seconds{route,method}``: a latency histogram, buckets from 1 ms to 5 s;
- ``scim_rate_limited_total``: requests refused with 429 by the per-organization rate limit.

With ``per_organization`` (the application sets it exactly when the ``metrics_token`` setting is
configured, so that only the holder of that token reads them), two series carry an ``org`` label:

- ``scim_requests_by_organization_total{org}``: authenticated requests by organization;
- ``scim_rate_limited_total{org}``: the 429s by organization, instead of the unlabelled total;
- ``scim_webhook_deliveries_total{org,outcome}``: webhook delivery attempts by organization, instead of
  by outcome alone (``delivered``, ``failed``: to be retried, ``abandoned``: given up after the retry
  period).

Without it no organization id is kept or served: on a multi-tenant server the ids are the customer
list, and an unauthenticated /metrics must not hand it out.

Always served: ``scim_database_errors_total{kind}``, requests answered with a database error, by kind
(``unavailable``: 503, the database cannot be reached; ``refused``, ``invalid_document``, ``driver``:
500, see ``storage/client.py``).

Label values are bounded: routes come from the route table (``unmatched`` for anything else), methods
outside the usual seven are ``OTHER``, and at most ``max_orgs`` organizations get their own label;
later ones are counted under ``other``.

The endpoint itself is in :mod:`scim_server.api.observability`.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
MAX_ORGS = 1000
OTHER_ORG = "other"
UNMATCHED_ROUTE = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

Labels = tuple[tuple[str, str], ...]


def escape_label_value(value: str) -> str:
    """Backslash, double quote and line feed are escaped in label values (exposition format)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _sample(name: str, labels: Labels, value: float) -> str:
    if not labels:
        return f"{name} {_number(value)}"
    inner = ",".join(f'{key}="{escape_label_value(text)}"' for key, text in labels)
    return f"{name}{{{inner}}} {_number(value)}"


def _header(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} {kind}"]


class _Histogram:
    __slots__ = ("count", "counts", "total")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * buckets  # per bucket, not cumulative; summed when rendered
        self.total = 0.0
        self.count = 0


class Metrics:
    """The process's counters and histogram; ``render`` writes the exposition text.

    ``per_organization`` keeps and serves the series labelled by organization (see the module).
    """

    def __init__(
        self,
        *,
        per_organization: bool = False,
        max_orgs: int = MAX_ORGS,
        buckets: Sequence[float] = DURATION_BUCKETS,
    ) -> None:
        self._per_organization = per_organization
        self._max_orgs = max_orgs
        self._buckets = tuple(buckets)
        self._orgs: set[str] = set()
        self._requests: defaultdict[Labels, int] = defaultdict(int)
        self._durations: dict[Labels, _Histogram] = {}
        self._by_org: defaultdict[Labels, int] = defaultdict(int)
        self._series: dict[tuple[str | None, str, int], tuple[Labels, _Histogram]] = {}
        self._org_keys: dict[str, Labels] = {}
        self._rate_limited: defaultdict[Labels, int] = defaultdict(int)
        self._webhooks: defaultdict[Labels, int] = defaultdict(int)
        self._database_errors: defaultdict[Labels, int] = defaultdict(int)
        if not per_organization:
            self._rate_limited[()] = 0  # the one unlabelled series, present from the start

    def org_label(self, org_id: str) -> str:
        """The organization's label value: its id while fewer than ``max_orgs`` are tracked."""
        if org_id in self._orgs:
            return org_id
        if len(self._orgs) < self._max_orgs:
            self._orgs.add(org_id)
            return org_id
        return OTHER_ORG

    def observe_request(
        self, route: str | None, method: str, status: int, seconds: float, org_id: str | None
    ) -> None:
        method_label = method if method in METHODS else "OTHER"
        series = self._series.get((route, method_label, status))
        if series is None:
            series = self._new_series(route, method_label, status)
        requests_key, histogram = series
        self._requests[requests_key] += 1
        histogram.counts[bisect_left(self._buckets, seconds)] += 1  # the first bucket with seconds <= bound
        histogram.total += seconds
        histogram.count += 1
        if org_id is not None and self._per_organization:
            org_key = self._org_keys.get(org_id)
            if org_key is None:
                org_key = (("org", self.org_label(org_id)),)
                if org_key[0][1] == org_id:  # a tracked organization: at most max_orgs of them
                    self._org_keys[org_id] = org_key
            self._by_org[org_key] += 1

    def _new_series(self, route: str | None, method_label: str, status: int) -> tuple[Labels, _Histogram]:
        """The label keys of a (route, method, status), made once: routes come from the route table,
        methods are bounded by ``METHODS`` and statuses by HTTP, so this stays small."""
        labels = (("route", route or UNMATCHED_ROUTE), ("method", method_label))
        histogram = self._durations.get(labels)
        if histogram is None:
            histogram = self._durations[labels] = _Histogram(len(self._buckets) + 1)
        series = self._series[(route, method_label, status)] = ((*labels, ("status", str(status))), histogram)
        return series

    def observe_rate_limited(self, org_id: str) -> None:
        key: Labels = (("org", self.org_label(org_id)),) if self._per_organization else ()
        self._rate_limited[key] += 1

    def observe_webhook(self, org_id: str, outcome: str) -> None:
        """One webhook delivery attempt's outcome (services/webhooks.py)."""
        org: Labels = (("org", self.org_label(org_id)),) if self._per_organization else ()
        self._webhooks[(*org, ("outcome", outcome))] += 1

    def observe_database_error(self, kind: str) -> None:
        """A request answered with a database error of ``kind`` (a bounded set of names)."""
        self._database_errors[(("kind", kind),)] += 1

    def render(self) -> str:
        lines: list[str] = []
        lines += _header(
            "scim_requests_total", "counter", "Requests answered, by route template, method and status."
        )
        lines += _samples("scim_requests_total", self._requests.items())
        lines += _header(
            "scim_request_duration_seconds",
            "histogram",
            "Time from receiving a request to its response, by route template and method.",
        )
        for labels, histogram in sorted(self._durations.items()):
            cumulative = 0
            for bound, count in zip((*self._buckets, math.inf), histogram.counts, strict=True):
                cumulative += count
                bucket_labels = (*labels, ("le", _number(bound)))
                lines.append(_sample("scim_request_duration_seconds_bucket", bucket_labels, cumulative))
            lines.append(_sample("scim_request_duration_seconds_sum", labels, histogram.total))
            lines.append(_sample("scim_request_duration_seconds_count", labels, histogram.count))
        if self._per_organization:
            lines += _header(
                "scim_requests_by_organization_total",
                "counter",
                f"Authenticated requests by organization (the first {self._max_orgs} seen; later ones as "
                f'"{OTHER_ORG}").',
            )
            lines += _samples("scim_requests_by_organization_total", self._by_org.items())
        lines += _header(
            "scim_rate_limited_total",
            "counter",
            "Requests refused with 429 by the per-organization rate limit"
            + (", by organization." if self._per_organization else "."),
        )
        lines += _samples("scim_rate_limited_total", self._rate_limited.items())
        lines += _header(
            "scim_webhook_deliveries_total",
            "counter",
            "Webhook delivery attempts by "
            + ("organization and " if self._per_organization else "")
            + "outcome (delivered, failed, abandoned).",
        )
        lines += _samples("scim_webhook_deliveries_total", self._webhooks.items())
        lines += _header(
            "scim_database_errors_total",
            "counter",
            "Requests answered with a database error, by kind (unavailable: 503; others: 500).",
        )
        lines += _samples("scim_database_errors_total", self._database_errors.items())
        return "\n".join(lines) + "\n"


def _samples(name: str, items: Iterable[tuple[Labels, int]]) -> list[str]:
    return [_sample(name, labels, value) for labels, value in sorted(items)]
