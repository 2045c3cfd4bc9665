"""Flows: chains passing results, parallel groups, chords, batches.

``canvas`` and ``batches`` are what users write; ``starting`` stores a new
flow; ``progress`` decides what is due; ``advance`` moves a flow forward,
exactly once, after its steps' outcomes commit (and ``sweep`` catches what
a crashed worker left); ``control`` cancels and resumes; ``handle`` is the
``FlowResult`` snapshot (it reads the models, so it is not imported here).
"""

from __future__ import annotations

from django_taskflow.flows.batches import batch
from django_taskflow.flows.canvas import Chain, Group, chain, chord, group
from django_taskflow.flows.steps import Step

__all__ = [
    "Chain",
    "Group",
    "Step",
    "batch",
    "chain",
    "chord",
    "group",
]
