"""Scoring: answers and invitations from Kafka become rollups, and rollups become metrics.

`handlers.py` is where a consumed batch is recorded, `rollups.py` how a revision moves
an answer between score histograms, `metrics.py` the formulas, `reports.py` how summed
rollups become a report, and `endpoints.py` the internal API the gateway reads.
"""
