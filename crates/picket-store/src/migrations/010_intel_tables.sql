-- Schema version 10: the intel table that `detect` builds from every indicator, kept encoded
-- (picket_intel::IntelTable::encode), so that the next run reads it instead of reading and
-- indexing every indicator again (half a second for a million). `feeds` names what it was built
-- from: each feed's id, indicator count and load time. It is used only while the feeds are
-- exactly those, and replacing or removing a feed deletes it in the same transaction.
-- One table at most, cut into parts of a mebibyte: neither database then builds a record of
-- the whole (30 MB for a million indicators) in memory to write or read it.
CREATE TABLE intel_tables (
    part BIGINT PRIMARY KEY,
    feeds TEXT NOT NULL,
    body {blob} NOT NULL
);
