-- Picket schema version 1, shared by SQLite and PostgreSQL ({id_pk} is filled in per dialect).
-- Timestamps are integer microseconds since the Unix epoch. Columns the store queries or sorts
-- on are plain columns; structured parts that are only ever read back whole are JSON text.

CREATE TABLE runs (
    id {id_pk},
    -- Targets::key(): runs with equal keys scanned the same targets.
    target_key TEXT NOT NULL,
    targets TEXT NOT NULL,
    profile TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    status TEXT NOT NULL
);
-- runs_for_targets and previous_run: equal key, completed, by id.
CREATE INDEX runs_by_target ON runs (target_key, status, id);

CREATE TABLE hosts (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    hostname TEXT,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    -- The run's own summary of ports not listed, kept as given (never expanded to rows).
    extra_ports TEXT NOT NULL,
    unprobed TEXT NOT NULL,
    interruptions TEXT NOT NULL,
    stats TEXT NOT NULL,
    PRIMARY KEY (run_id, address)
);

CREATE TABLE observations (
    run_id BIGINT NOT NULL,
    address TEXT NOT NULL,
    port BIGINT NOT NULL,
    protocol TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    rtt_us BIGINT,
    attempts BIGINT NOT NULL,
    icmp_from TEXT,
    PRIMARY KEY (run_id, address, protocol, port),
    FOREIGN KEY (run_id, address) REFERENCES hosts (run_id, address) ON DELETE CASCADE
);

CREATE TABLE rechecks (
    id {id_pk},
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    host TEXT NOT NULL,
    port BIGINT NOT NULL,
    protocol TEXT NOT NULL,
    verdict TEXT NOT NULL,
    evidence TEXT NOT NULL
);
CREATE INDEX rechecks_by_run ON rechecks (run_id, id);

CREATE TABLE findings (
    id {id_pk},
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    host TEXT NOT NULL,
    hostname TEXT,
    port BIGINT NOT NULL,
    protocol TEXT NOT NULL,
    previous_state TEXT,
    current_state TEXT,
    verdict TEXT,
    summary TEXT NOT NULL,
    evidence TEXT NOT NULL,
    remediation TEXT NOT NULL,
    verify TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- The three filters of FindingFilter, each also ordered the way findings() returns them.
CREATE INDEX findings_by_run ON findings (run_id, created_at, id);
CREATE INDEX findings_by_kind ON findings (kind, created_at, id);
CREATE INDEX findings_by_host ON findings (host, created_at, id);
CREATE INDEX findings_by_time ON findings (created_at, id);
