//! Whether freshly read knowledge (a threat feed, a KEV catalogue, EPSS scores) may replace what
//! is stored. Every loader describes what it read as an [`Intake`]; [`Intake::check`] applies one
//! ordered list of rules, so that a broken download never costs the data it would replace:
//!
//! | rule | refused when |
//! |---|---|
//! | empty | nothing loaded (an empty file, random bytes, the wrong format) |
//! | mostly bad | more than [`MAX_BAD_SHARE_PERCENT`] % of the entries read could not be read |
//! | contradicts its header | the input states how many entries it holds and holds another number |
//! | cut off | it ends inside a line whose entry could not be read |
//! | shrinks | it holds less than half of what is stored, unless the user allows it |

use thiserror::Error;

/// The share of bad entries, in percent, above which an input is refused as mostly bad.
pub const MAX_BAD_SHARE_PERCENT: usize = 10;

/// What a loader read from one input, for deciding whether it may replace stored data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Intake {
    /// Entries that loaded (after leaving out duplicates and other well-formed non-entries).
    pub accepted: usize,
    /// Entries present in the input, good or bad: what a stated count counts.
    pub present: usize,
    /// Entries that could not be read.
    pub rejected: usize,
    /// How many entries the input says it holds (FireHOL `# Entries`, KEV `count`), if it says.
    pub declared: Option<usize>,
    /// The input ends inside a line whose entry could not be read: the download was cut short.
    pub cut_off: bool,
}

/// Why an input may not replace what is stored. `what` names the input (its file).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IntakeError {
    /// Nothing would be loaded: the entries present were all bad or all left out (bogon space,
    /// too wide), or there were none.
    #[error(
        "{what}: no entry to load ({present} read, {rejected} bad); refused, the stored data is kept"
    )]
    Empty {
        what: String,
        present: usize,
        rejected: usize,
    },
    #[error(
        "{what}: {rejected} of {present} entries are bad (more than {MAX_BAD_SHARE_PERCENT} %); \
         refused, the stored data is kept"
    )]
    MostlyBad {
        what: String,
        rejected: usize,
        present: usize,
    },
    #[error(
        "{what}: it says it holds {declared} entries but holds {present}; refused as incomplete, \
         the stored data is kept"
    )]
    ContradictsHeader {
        what: String,
        declared: usize,
        present: usize,
    },
    #[error("{what}: the last line is cut off; refused as incomplete, the stored data is kept")]
    CutOff { what: String },
    #[error(
        "{what}: {accepted} entries would replace {stored} (less than half); the stored data is \
         kept; pass --allow-shrink if the source really shrank"
    )]
    Shrinks {
        what: String,
        accepted: usize,
        stored: usize,
    },
}

impl Intake {
    /// Refuses input that must not replace `stored` entries (`None`: nothing stored yet).
    pub fn check(
        &self,
        what: &str,
        stored: Option<usize>,
        allow_shrink: bool,
    ) -> Result<(), IntakeError> {
        let what = what.to_owned();
        if self.accepted == 0 {
            return Err(IntakeError::Empty {
                what,
                present: self.present,
                rejected: self.rejected,
            });
        }
        if self.rejected.saturating_mul(100) > self.present.saturating_mul(MAX_BAD_SHARE_PERCENT) {
            return Err(IntakeError::MostlyBad {
                what,
                rejected: self.rejected,
                present: self.present,
            });
        }
        if let Some(declared) = self.declared
            && declared != self.present
        {
            return Err(IntakeError::ContradictsHeader {
                what,
                declared,
                present: self.present,
            });
        }
        if self.cut_off {
            return Err(IntakeError::CutOff { what });
        }
        match stored {
            Some(stored) if !allow_shrink && self.accepted.saturating_mul(2) < stored => {
                Err(IntakeError::Shrinks {
                    what,
                    accepted: self.accepted,
                    stored,
                })
            }
            _ => Ok(()),
        }
    }
}

/// The 1-based number of the last line when `bytes` does not end with a newline (the line a cut
/// download ends in); `None` for empty input or input that ends a line.
pub fn unfinished_last_line(bytes: &[u8]) -> Option<usize> {
    match bytes.last() {
        None | Some(b'\n') => None,
        Some(_) => Some(bytes.iter().filter(|&&b| b == b'\n').count() + 1),
    }
}

/// What one imported file of vulnerability knowledge held (`picket vuln import` says it per
/// file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    Nvd {
        records: usize,
        skipped: usize,
    },
    Osv {
        records: usize,
        skipped: usize,
    },
    Kev {
        version: Option<String>,
        entries: usize,
        skipped: usize,
    },
    Epss {
        scores: usize,
        skipped: usize,
    },
    Report {
        format: crate::ReportFormat,
        vulnerabilities: usize,
        matches: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good(accepted: usize) -> Intake {
        Intake {
            accepted,
            present: accepted,
            ..Intake::default()
        }
    }

    #[test]
    fn intake_refuses_empty_bad_contradicting_cut_and_shrinking_input() {
        let empty = Intake {
            rejected: 3,
            present: 3,
            ..Intake::default()
        };
        assert!(matches!(
            empty.check("f", None, true),
            Err(IntakeError::Empty { rejected: 3, .. })
        ));
        let bad = Intake {
            accepted: 80,
            present: 100,
            rejected: 11,
            ..Intake::default()
        };
        assert!(matches!(
            bad.check("f", None, true),
            Err(IntakeError::MostlyBad { .. })
        ));
        let few_bad = Intake {
            rejected: 10,
            ..bad
        };
        assert_eq!(few_bad.check("f", None, false), Ok(()));
        let half = Intake {
            declared: Some(235),
            ..good(90)
        };
        let err = half.check("feodo.ipset", None, true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "feodo.ipset: it says it holds 235 entries but holds 90; refused as incomplete, the stored data is kept"
        );
        let cut = Intake {
            cut_off: true,
            rejected: 1,
            ..good(100)
        };
        assert_eq!(
            cut.check("f", None, true),
            Err(IntakeError::CutOff { what: "f".into() })
        );
        assert!(matches!(
            good(10).check("f", Some(21), false),
            Err(IntakeError::Shrinks {
                accepted: 10,
                stored: 21,
                ..
            })
        ));
        assert_eq!(good(10).check("f", Some(21), true), Ok(()));
        assert_eq!(good(10).check("f", Some(20), false), Ok(()));
        assert_eq!(good(10).check("f", None, false), Ok(()));
    }

    #[test]
    fn unfinished_last_line_numbers_the_line_a_cut_ends_in() {
        assert_eq!(unfinished_last_line(b""), None);
        assert_eq!(unfinished_last_line(b"a\nb\n"), None);
        assert_eq!(unfinished_last_line(b"a\nb"), Some(2));
        assert_eq!(unfinished_last_line(b"abc"), Some(1));
    }
}
