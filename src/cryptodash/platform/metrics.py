"""Prometheus metrics: every name the dashboards and alerts may use (ARCHITECTURE §5).

One `Metrics` object per process, built by the app factory with its own registry, so tests can
build as many apps as they like without duplicate-registration errors.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._bus_children: dict[tuple[str, str], Any] = {}
        r = self.registry
        self.http_requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_request_duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.cache_requests = Counter(
            "cache_requests_total",
            "Cache lookups by result (hit, miss, error)",
            ["result"],
            registry=r,
        )
        # The children every cache lookup counts into, looked up once: a `labels()` call
        # costs a lock and a lookup, more than the in-process lookup it would count.
        self.cache_hits = self.cache_requests.labels("hit")
        self.cache_misses = self.cache_requests.labels("miss")
        self.cache_errors = self.cache_requests.labels("error")
        self.edge_cache = Counter(
            "http_edge_cache_total",
            "GET answers of routes marked fresh_for: served from the edge cache (hit) or by "
            "the app and stored (miss)",
            ["result"],
            registry=r,
        )
        self.event_loop_lag = Histogram(
            "event_loop_lag_seconds",
            "How late the event loop ran a timer (time other callbacks held it)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.gc_pause = Histogram(
            "python_gc_pause_seconds",
            "Garbage collector pauses by generation",
            ["generation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.cache_evictions = Counter(
            "cache_evictions_total", "Entries evicted from the in-process cache", registry=r
        )
        self.db_query_duration = Histogram(
            "db_query_duration_seconds",
            "Database statement latency",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.db_pool_connections = Gauge(
            "db_pool_connections", "Database pool connections by state", ["state"], registry=r
        )
        self.bus_messages = Counter(
            "bus_messages_total",
            "Bus messages by topic and direction (produced, consumed, failed)",
            ["topic", "direction"],
            registry=r,
        )
        self.kafka_consumer_lag = Gauge(
            "kafka_consumer_lag",
            "Messages behind the log end, per consumer group and partition",
            ["group", "topic", "partition"],
            registry=r,
        )
        self.exchange_connection_up = Gauge(
            "exchange_connection_up",
            "1 while the exchange feed is connected",
            ["exchange"],
            registry=r,
        )
        self.exchange_messages = Counter(
            "exchange_messages_total",
            "Messages received from exchanges",
            ["exchange"],
            registry=r,
        )
        self.ws_clients = Gauge("ws_clients", "Open WebSocket clients", ["channel"], registry=r)
        self.ws_messages_sent = Counter(
            "ws_messages_sent_total", "WebSocket frames sent", ["channel"], registry=r
        )
        self.ws_messages_conflated = Counter(
            "ws_messages_conflated_total",
            "WebSocket updates replaced by a newer value before a slow client took them",
            ["channel"],
            registry=r,
        )
        self.ws_disconnects = Counter(
            "ws_disconnects_total", "WebSocket disconnects by reason", ["reason"], registry=r
        )
        self.ws_send_latency = Histogram(
            "ws_send_latency_seconds",
            "Source event time (a price tick's exchange time; the bus message's produced_at on "
            "the other channels) to the frame being written to a WebSocket client",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.price_update_latency = Histogram(
            "price_update_latency_seconds",
            "Exchange event time to the price being served",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rate_limit_rejections = Counter(
            "rate_limit_rejections_total",
            "Requests refused by the rate limiter",
            ["scope"],
            registry=r,
        )
        self.sentiment_articles = Counter(
            "sentiment_articles_total",
            "Articles and posts classified",
            ["source", "kind"],
            registry=r,
        )
        self.portfolio_calculations = Counter(
            "portfolio_calculations_total", "Portfolio valuations computed", registry=r
        )

    def bus_counter(self, topic: str, direction: str) -> Any:
        """The `bus_messages_total` child of a topic and direction, looked up once: on the
        bus's hot path a label lookup costs about as much as handing a message over."""
        child = self._bus_children.get((topic, direction))
        if child is None:
            child = self._bus_children[(topic, direction)] = self.bus_messages.labels(
                topic, direction
            )
        return child

    def render(self) -> bytes:
        return generate_latest(self.registry)
