-- Schema version 5: indicators stored in the shape they are looked up in (issue #9). Every
-- network that covers an address is that address cut to some prefix length, so `net_key` holds
-- each indicator's network with its host bits cleared, as text (`10.0.0.0/8`, `2001:db8::/32`),
-- and a lookup asks the index for the address cut to each of its 33 (IPv4) or 129 (IPv6)
-- prefix lengths: one indexed query, never a scan of every indicator. Feeds store their
-- networks with host bits cleared already; the store fixes the few rows that are not, after
-- this DDL.
-- Compared byte by byte (PostgreSQL's "C" collation; SQLite's default): a locale's collation
-- would make every insert into the index several times dearer, and keys are ASCII.
ALTER TABLE indicators ADD COLUMN net_key TEXT {bytewise};
UPDATE indicators SET net_key = network;
CREATE INDEX indicators_by_net_key ON indicators (net_key);
