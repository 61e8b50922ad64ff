-- Foundation schema. Every table a later stage writes is keyed so that a re-run
-- upserts instead of doubling (effectively-once, DESIGN.md §4).

CREATE TABLE items (
    item_id                  VARCHAR PRIMARY KEY,
    kind                     VARCHAR NOT NULL,          -- post | page
    source_name              VARCHAR NOT NULL,
    source_kind              VARCHAR NOT NULL,
    tier                     VARCHAR NOT NULL,
    publisher                VARCHAR NOT NULL,
    organisation             VARCHAR,
    url                      VARCHAR,
    canonical_url            VARCHAR,
    title                    VARCHAR NOT NULL DEFAULT '',
    text                     VARCHAR NOT NULL DEFAULT '',
    lang                     VARCHAR NOT NULL DEFAULT 'und',
    published_at             TIMESTAMPTZ,
    published_offset_minutes INTEGER,
    updated_at               TIMESTAMPTZ,
    author                   VARCHAR,
    handle                   VARCHAR,
    content_hash             VARCHAR NOT NULL DEFAULT '',
    duplicate_of             VARCHAR,
    duplicate_kind           VARCHAR,
    category                 VARCHAR,
    item_type                VARCHAR,
    event_id                 VARCHAR,
    engagement               BIGINT NOT NULL DEFAULT 0,
    kafka_topic              VARCHAR,
    kafka_partition          INTEGER,
    kafka_offset             BIGINT,
    processed_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    record                   JSON NOT NULL               -- the full schemas.item.Item
);
CREATE INDEX items_published ON items (published_at);
CREATE INDEX items_event ON items (event_id);
CREATE INDEX items_hash ON items (content_hash);

CREATE TABLE events (
    event_id      VARCHAR PRIMARY KEY,
    title         VARCHAR NOT NULL,
    category      VARCHAR NOT NULL,
    verification  VARCHAR NOT NULL,
    signal_score  DOUBLE NOT NULL,
    first_seen    TIMESTAMPTZ NOT NULL,
    last_seen     TIMESTAMPTZ NOT NULL,
    items         INTEGER NOT NULL DEFAULT 0,
    publishers    INTEGER NOT NULL DEFAULT 0,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    record        JSON NOT NULL                          -- the full schemas.event.Event
);
CREATE INDEX events_first_seen ON events (first_seen);

CREATE TABLE event_items (
    event_id  VARCHAR NOT NULL,
    item_id   VARCHAR NOT NULL,
    joined_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, item_id)
);

CREATE TABLE score_components (
    event_id VARCHAR NOT NULL,
    name     VARCHAR NOT NULL,
    points   DOUBLE NOT NULL,
    reason   VARCHAR NOT NULL,
    PRIMARY KEY (event_id, name)
);

-- The processor's Kafka position, committed in the same transaction as its results.
CREATE TABLE consumer_offsets (
    consumer    VARCHAR NOT NULL,
    topic       VARCHAR NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);

CREATE TABLE alerts_sent (
    alert_id     VARCHAR PRIMARY KEY,
    event_id     VARCHAR NOT NULL,
    level        VARCHAR NOT NULL,
    signal_score DOUBLE NOT NULL,
    sent_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE digests (
    digest_date  DATE NOT NULL,
    language     VARCHAR NOT NULL,
    window_from  DATE NOT NULL,
    window_to    DATE NOT NULL,
    timezone     VARCHAR NOT NULL,
    event_ids    VARCHAR[] NOT NULL,
    record       JSON NOT NULL,                          -- the full schemas.digest.Digest
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (digest_date, language)
);

-- One row per dead letter (the bytes stay on the DLQ topic); `radar dlq list` reads it.
CREATE TABLE dead_letters (
    dead_letter_id VARCHAR PRIMARY KEY,
    stage          VARCHAR NOT NULL,
    reason         VARCHAR NOT NULL,
    source_name    VARCHAR,
    url            VARCHAR,
    kafka_topic    VARCHAR,
    kafka_partition INTEGER,
    kafka_offset   BIGINT,
    original_size  BIGINT NOT NULL DEFAULT 0,
    occurred_at    TIMESTAMPTZ NOT NULL,
    replayed_at    TIMESTAMPTZ
);

-- Connector cursors: a second run of an unchanged source fetches and produces nothing.
CREATE TABLE source_cursors (
    source_name   VARCHAR PRIMARY KEY,
    etag          VARCHAR,
    last_modified VARCHAR,
    since_id      VARCHAR,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE source_seen (
    source_name VARCHAR NOT NULL,
    entry_key   VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL DEFAULT '',             -- changes when the entry is edited
    first_seen  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source_name, entry_key)
);
