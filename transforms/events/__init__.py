"""Event clustering core: representation-based online clustering of a news stream.

`cluster_records(records, state)` assigns each `Record`, in arrival order, to an open event or
a new one, updating `state` (a `ClusterState`, JSON round-trippable) in place. See DESIGN.md §6
and issue 11; figures in `bench/clustering_quality.py`.
"""

from transforms.events.assign import Assignment, ClusterState, DecisionModel, cluster_records, new_event_id
from transforms.events.representation import Record

__all__ = ["Assignment", "ClusterState", "DecisionModel", "Record", "cluster_records", "new_event_id"]
