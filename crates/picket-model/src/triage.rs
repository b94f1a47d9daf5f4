//! A person's triage of an alert: whether it is still open, acknowledged or closed, why it was
//! closed (Lacework's close reasons), a note, and who decided it when. This module must never
//! decide a status itself: people do, through the API or the dashboard.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Where an alert stands in a person's work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// Nobody has looked at it yet (every alert starts so).
    #[default]
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Decided, with a reason.
    Closed,
}

impl AlertStatus {
    pub const ALL: [AlertStatus; 3] = [
        AlertStatus::Open,
        AlertStatus::Acknowledged,
        AlertStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s.trim())
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| {
            format!("unknown alert status {s:?} (expected open, acknowledged or closed)")
        })
    }
}

/// Why an alert was closed: Lacework's close reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloseReason {
    Other,
    FalsePositive,
    NotEnoughInformation,
    MaliciousResolved,
    MaliciousUnresolved,
    ExpectedTesting,
}

impl CloseReason {
    pub const ALL: [CloseReason; 6] = [
        CloseReason::Other,
        CloseReason::FalsePositive,
        CloseReason::NotEnoughInformation,
        CloseReason::MaliciousResolved,
        CloseReason::MaliciousUnresolved,
        CloseReason::ExpectedTesting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Other => "other",
            CloseReason::FalsePositive => "false-positive",
            CloseReason::NotEnoughInformation => "not-enough-information",
            CloseReason::MaliciousResolved => "malicious-resolved",
            CloseReason::MaliciousUnresolved => "malicious-unresolved",
            CloseReason::ExpectedTesting => "expected-testing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s.trim())
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CloseReason {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| {
            format!(
                "unknown close reason {s:?} (expected other, false-positive, \
                 not-enough-information, malicious-resolved, malicious-unresolved or \
                 expected-testing)"
            )
        })
    }
}

/// An alert's triage as stored beside it. An alert nobody triaged is [`AlertTriage::default`]:
/// open, with nothing else set. Updates of the alert by the detector keep it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertTriage {
    pub status: AlertStatus,
    /// Set when closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<CloseReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Who triaged it (as the caller names them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
}

impl AlertTriage {
    /// Acknowledged by `by` at `at`.
    pub fn acknowledged(note: Option<String>, by: Option<String>, at: Timestamp) -> Self {
        Self {
            status: AlertStatus::Acknowledged,
            close_reason: None,
            note,
            by,
            at: Some(at),
        }
    }

    /// Closed for `reason` by `by` at `at`.
    pub fn closed(
        reason: CloseReason,
        note: Option<String>,
        by: Option<String>,
        at: Timestamp,
    ) -> Self {
        Self {
            status: AlertStatus::Closed,
            close_reason: Some(reason),
            note,
            by,
            at: Some(at),
        }
    }

    /// Nobody triaged it.
    pub fn is_untouched(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_parse() {
        for s in AlertStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(s.as_str().parse::<AlertStatus>(), Ok(s));
        }
        for r in CloseReason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
            assert_eq!(r.as_str().parse::<CloseReason>(), Ok(r));
        }
        assert!("resolved".parse::<CloseReason>().is_err());
        assert!("new".parse::<AlertStatus>().is_err());
    }

    #[test]
    fn an_untouched_triage_is_open() {
        assert!(AlertTriage::default().is_untouched());
        assert_eq!(AlertTriage::default().status, AlertStatus::Open);
        let at = Timestamp::UNIX_EPOCH;
        assert!(!AlertTriage::acknowledged(None, None, at).is_untouched());
    }
}
