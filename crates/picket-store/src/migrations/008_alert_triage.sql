-- Schema version 8: a person's triage of an alert (issue #10): open, acknowledged or closed, the
-- close reason (Lacework's), a note, who and when. Kept in columns of their own, outside `body`,
-- so that the detector's updates of an alert (which rewrite `body`) keep its triage.
ALTER TABLE alerts ADD COLUMN status TEXT NOT NULL DEFAULT 'open';
ALTER TABLE alerts ADD COLUMN close_reason TEXT;
ALTER TABLE alerts ADD COLUMN triage_note TEXT;
ALTER TABLE alerts ADD COLUMN triaged_by TEXT;
ALTER TABLE alerts ADD COLUMN triaged_at BIGINT;
CREATE INDEX alerts_by_status ON alerts (status, first_seen);
CREATE INDEX alerts_by_host ON alerts (host, first_seen);
-- The listing's order, so that a page of a large table is read from the index, not sorted.
CREATE INDEX alerts_by_first_seen ON alerts (first_seen, id);
