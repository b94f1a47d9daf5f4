-- Schema version 4: a scanner report names many packages behind one host:port, each its own
-- application (issue #8). The inventory key gains the package (`ECOSYSTEM/NAME@VERSION`, empty
-- for an application known without one, as every entry of version 2 was). The table is rebuilt
-- because SQLite cannot change a primary key in place.
CREATE TABLE inventory_v4 (
    host TEXT NOT NULL,
    port BIGINT NOT NULL,
    source TEXT NOT NULL,
    package TEXT NOT NULL,
    application TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (host, port, source, package)
);
INSERT INTO inventory_v4 (host, port, source, package, application, updated_at)
    SELECT host, port, source, '', application, updated_at FROM inventory;
DROP TABLE inventory;
ALTER TABLE inventory_v4 RENAME TO inventory;
