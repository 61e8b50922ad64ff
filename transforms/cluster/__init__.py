"""Stage 5, cluster into events: items about the same real-world happening share an event id.

Per item, in publish-time order (see `_stream_order`), strongest evidence first:

1. it was already placed (a re-run of a batch keeps every item where it was);
2. it is a duplicate (exact, near, retweet) of an item placed before: it goes where that one is;
3. links: a post quotes or retweets a member, links a member's canonical URL, is linked by a
   member post, or links the same page as one: it goes to that member's event;
4. otherwise the representation-based online clustering of `transforms.events` decides: the item
   is compared with the centroids of open events (words, names and amounts, links), never with
   single members, and a fitted model says "join" or "new event"; when it fits two events whose
   centroids agree, they merge (`ClusteredBatch.merges` says which ids were folded away).

No hand-listed names decide a join. New events are named "ev-" + a short hash of the founding
item's id, so ids are stable across batches and re-runs. Off-topic items are clustered (the
topic gate is the digest's decision, not the clustering's) but carry no event id.

The clustering state (`ClusterState`) carries from batch to batch and is stored with each
batch's commit, so any cut of the stream into batches gives the same events. The members of open
events (for links, cross-language rewrites and scoring) arrive as an `EventIndex` loaded from
DuckDB by `load_event_index`.

`cluster_batch` returns the member it built for each item (`ClusteredBatch.built`), so scoring
the batch (`score_batch(..., built)`) does not build them again.

One job per module: `rules` (the data file and the keys events match on), `members` (an item's
view as an event member), `index` (the members of open events), `load` (that index from DuckDB),
`assign` (`cluster_batch`: the order, the structural evidence, the online clustering's decision),
`stage` (the Beam PTransform). The online clustering itself is `transforms.events`.
"""

from __future__ import annotations

from transforms.cluster.assign import ClusteredBatch, assign_events, cluster_batch, merged_members, richness
from transforms.cluster.index import EventIndex, as_event_index_side_input
from transforms.cluster.load import load_event_index, load_event_members
from transforms.cluster.members import BuiltMember, EventMember, is_off_topic, member_from_item
from transforms.cluster.rules import ClusterRules, load_cluster_rules, new_event_id, organisation_slug, product_key
from transforms.cluster.stage import ClusterIntoEvents

__all__ = [
    "BuiltMember",
    "ClusterIntoEvents",
    "ClusterRules",
    "EventIndex",
    "EventMember",
    "as_event_index_side_input",
    "ClusteredBatch",
    "assign_events",
    "cluster_batch",
    "is_off_topic",
    "load_cluster_rules",
    "load_event_index",
    "load_event_members",
    "member_from_item",
    "merged_members",
    "new_event_id",
    "organisation_slug",
    "product_key",
    "richness",
]
