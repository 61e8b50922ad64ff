-- The clustering state's open events, one row each, beside the state's header in cluster_state
-- (008; the header's JSON then says "version": 2). A batch upserts the events it created or
-- changed and deletes the ones it closed or merged away, in its own transaction: storing the
-- state costs what the batch touched, where rewriting one blob of every open event grew with
-- the store (~3 s a batch at 100k items). A version-1 blob (all events inside) is split into
-- these rows the first time a processor reads it (infra/sink.load_cluster_state).
CREATE TABLE IF NOT EXISTS cluster_events (
    event_id  VARCHAR PRIMARY KEY,
    seq       BIGINT NOT NULL,       -- creation order: the state is rebuilt in this order
    event     VARCHAR NOT NULL       -- transforms.events.index.Event.to_json(), as JSON text
);
