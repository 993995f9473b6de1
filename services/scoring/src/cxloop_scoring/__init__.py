"""Scoring: answers and invitations from Kafka become rollups, and rollups become metrics;
answers that match a workspace's alert rules become closed-loop alerts.

`handlers.py` is where a consumed batch is recorded, `rollups.py` how a revision moves
an answer between score histograms, `metrics.py` the formulas, `reports.py` how summed
rollups become a report, and `endpoints.py` the internal API the gateway reads.
`alerts.py` decides which answers raise alerts (with the touchpoint's context),
`webhooks.py` which endpoints get which event and when a failed one is retried, and
`deliveries.py` posts them, signed per Standard Webhooks.
"""
