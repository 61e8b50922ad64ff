-- The online event clustering's state (transforms/events: open events' centroids, the stream
-- clock, merge aliases), as the last committed batch left it. Written in the batch's own
-- transaction (infra/sink.py), so a restart continues from exactly the committed point and the
-- same records give the same events however the stream was cut into batches. One row.
-- Independent of 005-007: it touches no other table.
CREATE TABLE IF NOT EXISTS cluster_state (
    id          INTEGER PRIMARY KEY,   -- always 1
    state       BLOB NOT NULL,         -- zlib-compressed JSON (transforms/pipeline.encode_cluster_state)
    updated_at  TIMESTAMPTZ NOT NULL
);
