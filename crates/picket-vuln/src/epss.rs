//! FIRST EPSS daily scores: CSV with a `#model_version:...,score_date:...` comment line, then
//! `cve,epss,percentile`.

use std::io::{BufRead, BufReader, Read};

use jiff::civil::Date;
use picket_model::Epss;

use crate::VulnError;

/// One EPSS file: its model version and score date, the scores by CVE, and skipped lines.
#[derive(Debug, Default)]
pub struct EpssFile {
    pub model_version: Option<String>,
    pub score_date: Option<Date>,
    pub scores: Vec<(String, Epss)>,
    pub skipped: Vec<VulnError>,
}

/// Reads an EPSS CSV (decompressed). A missing header or wrong columns is an error; a bad row
/// is skipped and reported with its line number.
pub fn read_epss<R: Read>(reader: R, file: &str) -> Result<EpssFile, VulnError> {
    let mut reader = BufReader::new(reader);
    let mut out = EpssFile::default();
    let mut first = String::new();
    reader
        .read_line(&mut first)
        .map_err(|e| VulnError::io(file, e))?;
    // The comment line is optional in older files: if absent, this line is the header.
    let header_line;
    let mut line_offset = 1;
    if let Some(comment) = first.trim_end().strip_prefix('#') {
        for item in comment.split(',') {
            match item.split_once(':') {
                Some(("model_version", v)) => out.model_version = Some(v.to_owned()),
                Some(("score_date", v)) => {
                    let day = v.get(..10).unwrap_or(v);
                    out.score_date = Some(day.parse().map_err(|e| VulnError::Line {
                        file: file.to_owned(),
                        line: 1,
                        field: "score_date".to_owned(),
                        message: format!("{v:?}: {e}"),
                    })?);
                }
                _ => {}
            }
        }
        header_line = String::new();
    } else {
        header_line = first;
        line_offset = 0;
    }
    let chained = std::io::Cursor::new(header_line.into_bytes()).chain(reader);
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(chained);
    let headers = csv
        .headers()
        .map_err(|e| csv_error(file, line_offset, &e))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(c_cve), Some(c_epss), Some(c_pct)) = (col("cve"), col("epss"), col("percentile"))
    else {
        return Err(VulnError::Line {
            file: file.to_owned(),
            line: 1 + line_offset,
            field: "header".to_owned(),
            message: format!("expected columns cve,epss,percentile, found {headers:?}"),
        });
    };
    for row in csv.records() {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                if e.is_io_error() {
                    return Err(csv_error(file, line_offset, &e));
                }
                out.skipped.push(csv_error(file, line_offset, &e));
                continue;
            }
        };
        let line = row.position().map_or(0, |p| p.line()) + line_offset;
        let bad = |field: &str, message: String| VulnError::Line {
            file: file.to_owned(),
            line,
            field: field.to_owned(),
            message,
        };
        let get = |i: usize| row.get(i).unwrap_or("").trim();
        let cve = get(c_cve);
        let number = |i: usize, name: &str| -> Result<f64, VulnError> {
            let raw = get(i);
            match raw.parse::<f64>() {
                Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
                Ok(v) => Err(bad(name, format!("{v} is outside 0..=1"))),
                Err(e) => Err(bad(name, format!("{raw:?}: {e}"))),
            }
        };
        if !cve.starts_with("CVE-") {
            out.skipped
                .push(bad("cve", format!("{cve:?} is not a CVE id")));
            continue;
        }
        match (number(c_epss, "epss"), number(c_pct, "percentile")) {
            (Ok(score), Ok(percentile)) => out.scores.push((
                cve.to_owned(),
                Epss {
                    score,
                    percentile,
                    date: out.score_date,
                },
            )),
            (Err(e), _) | (_, Err(e)) => out.skipped.push(e),
        }
    }
    Ok(out)
}

fn csv_error(file: &str, line_offset: u64, e: &csv::Error) -> VulnError {
    if let csv::ErrorKind::Io(io) = e.kind() {
        return VulnError::Io {
            file: file.to_owned(),
            source: std::io::Error::new(io.kind(), io.to_string()),
        };
    }
    VulnError::Line {
        file: file.to_owned(),
        line: e.position().map_or(0, |p| p.line()) + line_offset,
        field: "row".to_owned(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_rows() {
        let data = "#model_version:v2025.03.14,score_date:2025-08-25T12:55:00Z\n\
                    cve,epss,percentile\n\
                    CVE-2024-6387,0.38,0.97\n\
                    CVE-2024-0001,1.5,0.1\n\
                    CVE-2024-0002,abc,0.1\n\
                    nope,0.1,0.1\n";
        let f = read_epss(data.as_bytes(), "epss.csv").unwrap();
        assert_eq!(f.model_version.as_deref(), Some("v2025.03.14"));
        assert_eq!(f.score_date, Some(jiff::civil::date(2025, 8, 25)));
        assert_eq!(f.scores.len(), 1);
        assert_eq!(f.scores[0].1.score, 0.38);
        let errs: Vec<String> = f.skipped.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs[0], "epss.csv:4: field epss: 1.5 is outside 0..=1");
        assert!(
            errs[1].starts_with("epss.csv:5: field epss: \"abc\""),
            "{}",
            errs[1]
        );
        assert_eq!(errs[2], "epss.csv:6: field cve: \"nope\" is not a CVE id");
    }

    #[test]
    fn without_comment_line_and_with_wrong_header() {
        let f = read_epss("cve,epss,percentile\nCVE-1-1,0.1,0.2\n".as_bytes(), "e").unwrap();
        assert_eq!(f.scores.len(), 1);
        assert_eq!(f.score_date, None);
        let err = read_epss("a,b\n1,2\n".as_bytes(), "e.csv").unwrap_err();
        assert!(
            err.to_string().starts_with("e.csv:1: field header"),
            "{err}"
        );
    }
}
