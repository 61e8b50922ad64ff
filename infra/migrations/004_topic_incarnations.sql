-- Which incarnation of a topic (its Kafka topic id) the stored offsets and source cursors
-- refer to. The embedded broker is memory-only: after a restart the raw topic is new and
-- empty, and offsets/cursors recorded against the old one must not be trusted.
CREATE TABLE topic_incarnations (
    topic    VARCHAR PRIMARY KEY,
    topic_id VARCHAR NOT NULL,
    seen_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
