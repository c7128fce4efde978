"""Mechanisms without rules, between storage and the use cases: the search engine, index upkeep, background
jobs, throttles and caches, uploads, clustering. They know nothing of roles, cases or audit entries; the use
cases in `app/` hand them what the rules decided (a filter, a limit)."""
