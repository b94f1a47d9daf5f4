-- Schema version 9: a fencing epoch per checkpoint (issue #12). A detector that takes an event
-- partition over claims the next epoch of its checkpoint; a save under an older epoch (a detector
-- that stalled past its lease) is refused, so two holders never both store the same events.
ALTER TABLE checkpoints ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
