"""The study: every axis notebook, for every seed, run in parallel and resumably, then the report."""
