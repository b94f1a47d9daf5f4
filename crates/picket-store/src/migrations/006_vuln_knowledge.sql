-- Schema version 5: vulnerability knowledge stored in the shape it is queried (issue #9). Each
-- imported source (an NVD or OSV record, the KEV catalogue, an EPSS file, a scanner report)
-- contributes rows keyed the way a match looks them up: `kind` names what `lookup` is (a CPE
-- product, an ecosystem package, a reported package version, a vulnerability id) and what
-- `body` holds (the typed value as JSON). A re-import deletes the source's rows and writes
-- them anew; a command reads only the rows of the keys its applications need. The raw records
-- of `vuln_records` are converted into these rows by the first command that loads knowledge.
CREATE TABLE vuln_knowledge (
    source_kind TEXT NOT NULL,
    source_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    lookup TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (source_kind, source_id, seq)
);
CREATE INDEX vuln_knowledge_by_lookup ON vuln_knowledge (kind, lookup);
