-- Schema version 7: the name a reverse DNS lookup gave for a host (`picket scan -R`, issue #8).
-- NULL when no lookup was asked for or none answered, and for every host stored before.
ALTER TABLE hosts ADD COLUMN reverse_name TEXT;
