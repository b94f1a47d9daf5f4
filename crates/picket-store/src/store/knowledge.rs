//! Vulnerability knowledge by lookup key (table `vuln_knowledge`, schema version 6): each
//! imported source's rows, replaced as a whole when the source is imported again, and read
//! back only for the keys asked.
//!
//! This module must never interpret a row's body: `picket-vuln` encodes and decodes it. It
//! must never read every row to answer a lookup.

use picket_model::{KnowledgeKey, KnowledgeRow, KnowledgeSource};

use super::Session;
use super::threat::last_of_each;
use crate::conn::Value;
use crate::error::StoreError;
use crate::sql::Insert;
use crate::{SourceApplications, VulnSourceSummary};

const INSERT_KNOWLEDGE: Insert = Insert {
    head: "INSERT INTO vuln_knowledge (source_kind, source_id, seq, kind, lookup, body) VALUES ",
    width: 6,
    tail: "",
};
const DELETE_SOURCE: &str = "DELETE FROM vuln_knowledge WHERE source_kind = ? AND source_id = ?";
const SOURCE_EXISTS: &str =
    "SELECT 1 FROM vuln_knowledge WHERE source_kind = ? AND source_id = ? LIMIT 1";
/// Rows of one key in the order they apply: by source, then as the source gave them.
const SELECT_BY_LOOKUP: &str = "SELECT body FROM vuln_knowledge WHERE kind = ? AND lookup = ?
    ORDER BY source_kind, source_id, seq";
const COUNT_SOURCES: &str = "SELECT source_kind, source_id, COUNT(*) FROM vuln_knowledge
    GROUP BY source_kind, source_id ORDER BY source_kind, source_id";
const COUNT_SOURCES_OF_KIND: &str = "SELECT source_kind, source_id, COUNT(*) FROM vuln_knowledge
    WHERE source_kind = ? GROUP BY source_kind, source_id ORDER BY source_kind, source_id";
const DELETE_RAW_RECORDS: &str = "DELETE FROM vuln_records";

impl Session<'_> {
    pub(crate) fn replace_vuln_knowledge(
        &mut self,
        sources: &[KnowledgeSource],
        applications: &[SourceApplications],
    ) -> Result<(), StoreError> {
        let kept = last_of_each(sources, |s| (s.kind.as_str(), s.id.as_str()));
        self.transaction(|store| {
            for source in &kept {
                store.exec(
                    DELETE_SOURCE,
                    &[source.kind.as_str().into(), source.id.as_str().into()],
                    || format!("replacing {} knowledge {}", source.kind, source.id),
                )?;
            }
            store.insert_knowledge(&kept)?;
            applications.iter().try_for_each(|set| {
                store.write_applications(
                    set.host,
                    set.port,
                    &set.applications,
                    &set.source,
                    set.updated_at,
                )
            })
        })
    }

    pub(crate) fn adopt_vuln_records(
        &mut self,
        sources: &[KnowledgeSource],
    ) -> Result<(), StoreError> {
        let kept = last_of_each(sources, |s| (s.kind.as_str(), s.id.as_str()));
        self.transaction(|store| {
            let mut absent = Vec::with_capacity(kept.len());
            for source in kept {
                let rows = store.query(
                    SOURCE_EXISTS,
                    &[source.kind.as_str().into(), source.id.as_str().into()],
                    || format!("looking up {} knowledge {}", source.kind, source.id),
                )?;
                if rows.is_empty() {
                    absent.push(source);
                }
            }
            store.insert_knowledge(&absent)?;
            store.exec(DELETE_RAW_RECORDS, &[], || {
                "removing converted vulnerability records".into()
            })?;
            Ok(())
        })
    }

    /// Inserts every row of `sources` inside the caller's transaction.
    fn insert_knowledge(&mut self, sources: &[&KnowledgeSource]) -> Result<(), StoreError> {
        let rows: Vec<(&KnowledgeSource, usize, &KnowledgeRow)> = sources
            .iter()
            .flat_map(|s| {
                s.rows
                    .iter()
                    .enumerate()
                    .map(move |(seq, row)| (*s, seq, row))
            })
            .collect();
        self.insert_encoded(
            &INSERT_KNOWLEDGE,
            &rows,
            |_, (source, seq, row), out| {
                out.extend([
                    source.kind.as_str().into(),
                    source.id.as_str().into(),
                    Value::Int(i64::try_from(*seq).unwrap_or(i64::MAX)),
                    row.key.kind.as_str().into(),
                    row.key.key.as_str().into(),
                    row.body.as_str().into(),
                ]);
                Ok(())
            },
            |range| {
                let (first, last) = (rows[range.start].0, rows[range.end - 1].0);
                format!(
                    "storing {} knowledge {} to {} {}",
                    first.kind, first.id, last.kind, last.id
                )
            },
        )
    }

    pub(crate) fn vuln_knowledge(
        &mut self,
        keys: &[KnowledgeKey],
    ) -> Result<Vec<KnowledgeRow>, StoreError> {
        let mut keys: Vec<&KnowledgeKey> = keys.iter().collect();
        keys.sort();
        keys.dedup();
        let mut out = Vec::new();
        for key in keys {
            let what = || format!("{} knowledge {}", key.kind, key.key);
            let rows = self.query(
                SELECT_BY_LOOKUP,
                &[key.kind.as_str().into(), key.key.as_str().into()],
                || format!("reading {}", what()),
            )?;
            for row in &rows {
                let body = self
                    .row_fields(row, "vuln_knowledge", what())
                    .text(0, "body")?
                    .to_owned();
                out.push(KnowledgeRow {
                    key: key.clone(),
                    body,
                });
            }
        }
        Ok(out)
    }

    pub(crate) fn vuln_sources(
        &mut self,
        kind: Option<&str>,
    ) -> Result<Vec<VulnSourceSummary>, StoreError> {
        let (statement, params): (&str, Vec<Value>) = match kind {
            Some(kind) => (COUNT_SOURCES_OF_KIND, vec![kind.into()]),
            None => (COUNT_SOURCES, vec![]),
        };
        let rows = self.query(statement, &params, || {
            "listing vulnerability knowledge sources".into()
        })?;
        rows.iter()
            .map(|row| {
                let f = self.row_fields(row, "vuln_knowledge", "listed source".into());
                let (kind, id) = (f.text(0, "source_kind")?, f.text(1, "source_id")?);
                let f = f.keyed(format!("{kind} {id}"));
                Ok(VulnSourceSummary {
                    kind: kind.to_owned(),
                    id: id.to_owned(),
                    rows: u64::try_from(f.int(2, "rows")?).unwrap_or(0),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_insert_names_as_many_columns_as_it_binds() {
        let columns = INSERT_KNOWLEDGE.head.split(['(', ')']).nth(1).unwrap();
        assert_eq!(columns.split(',').count(), INSERT_KNOWLEDGE.width);
    }
}
