"""Prometheus metrics of the web service, and the middleware that counts and times every request."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..services.jobqueue import JobManager

CallNext = Callable[[Request], Awaitable[Response]]


class Metrics:
    """Prometheus metrics on a registry of their own, so several apps in one process do not collide."""

    def __init__(self, jobs: JobManager) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "facesearch_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "facesearch_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.searches = Counter("facesearch_searches", "Searches by outcome", ["outcome"], registry=self.registry)
        self.search_seconds = Histogram(
            "facesearch_search_engine_seconds", "Time in the engine per search", registry=self.registry
        )
        jobs_running = Gauge("facesearch_ingest_jobs_running", "Ingest jobs queued or running", registry=self.registry)
        jobs_running.set_function(jobs.running)

    async def observe(self, request: Request, call_next: CallNext) -> tuple[Response, str]:
        """Run the request; count it and its latency under its route's path template (never the path itself,
        which may hold ids). Returns the response and that route name."""
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        self.requests.labels(request.method, name, str(response.status_code)).inc()
        self.latency.labels(name).observe(time.perf_counter() - started)
        return response, str(name)
