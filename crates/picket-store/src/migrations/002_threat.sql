-- Picket schema version 2: the threat side (issue #3). Same conventions as version 1: shared by
-- both dialects, timestamps in integer microseconds, JSON text for what is only read back whole.

-- One row per registered feed; its metadata is the feed's FeedMeta as JSON.
CREATE TABLE feeds (
    id {id_pk},
    name TEXT NOT NULL UNIQUE,
    format TEXT NOT NULL,
    meta TEXT NOT NULL,
    -- Kept with the feed so that listing feeds never counts a million rows.
    indicator_count BIGINT NOT NULL,
    loaded_at BIGINT NOT NULL
);

-- Feeds run to millions of rows, so a row is kept small: the feed by id, the network as text,
-- and the optional fields (score, first/last seen, category, comment) as JSON, NULL when the
-- feed gives none of them (most lists). `ordinal` keeps the order the feed listed them in.
-- No foreign key to feeds: PostgreSQL checks one per inserted row, which more than doubled the
-- time to load a million indicators (4 s without, 10 s with, server side alone). The store
-- deletes a feed's indicators with the feed, and reads them only through a join with feeds.
CREATE TABLE indicators (
    feed_id BIGINT NOT NULL,
    ordinal BIGINT NOT NULL,
    network TEXT NOT NULL,
    extra TEXT,
    PRIMARY KEY (feed_id, ordinal)
);

-- What runs where: one row per (host, port, source), so that a manual entry, a scan and a
-- scanner report can each say their own and be removed on their own.
CREATE TABLE inventory (
    host TEXT NOT NULL,
    port BIGINT NOT NULL,
    source TEXT NOT NULL,
    application TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (host, port, source)
);

-- Vulnerability details (the model's Vulnerability as JSON), by id.
CREATE TABLE vulnerabilities (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
);

-- Imported source records (an NVD CVE with its configurations, an OSV record, a KEV entry, a
-- scanner report ...) as JSON, by kind and id: what the vulnerability index is rebuilt from.
CREATE TABLE vuln_records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);

-- One row per alert: a dedup key and window start name it, updates overwrite it. The columns
-- are what alerts are filtered and sorted by; `body` is the whole alert as JSON (without id).
CREATE TABLE alerts (
    id {id_pk},
    dedup_key TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    kind TEXT NOT NULL,
    client TEXT NOT NULL,
    host TEXT NOT NULL,
    port BIGINT NOT NULL,
    severity TEXT NOT NULL,
    -- Severity as a number (info 0 .. critical 4): the filter asks for "at least".
    severity_rank BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (dedup_key, window_start)
);
CREATE INDEX alerts_by_last_seen ON alerts (last_seen);
CREATE INDEX alerts_by_window ON alerts (window_start);
CREATE INDEX alerts_by_client ON alerts (client, last_seen);

CREATE TABLE suppressions (
    id {id_pk},
    client TEXT,
    port BIGINT,
    application TEXT,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);

-- Where each followed source got to (the reader's checkpoint as JSON), written in the same
-- transaction as the alerts it produced.
CREATE TABLE checkpoints (
    source TEXT PRIMARY KEY,
    body TEXT NOT NULL
);

-- The history of `picket block`: a row per block, kept after it is lifted.
CREATE TABLE blocks (
    id {id_pk},
    net TEXT NOT NULL,
    reason TEXT NOT NULL,
    alert_id BIGINT REFERENCES alerts (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    removed_at BIGINT
);
CREATE INDEX blocks_by_net ON blocks (net, removed_at);
