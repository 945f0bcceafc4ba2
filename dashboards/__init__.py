"""Grafana dashboards and Logs Insights queries for lctrace, generated from code.

`python -m dashboards.generate` rewrites the checked-in files (`dashboards/*.json`,
`dashboards/provisioning/**`, `collectors/insights/dashboard-*.query`); `--check` fails when
they differ from what the code generates. Built with grafana-foundation-sdk (a dev dependency).
"""
