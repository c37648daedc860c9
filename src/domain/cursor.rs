//! Page cursors: where the next page of a list starts (MCP's `nextCursor`, REST's
//! `next_cursor`, the CLI's `--cursor`), checked on the way back in.

use super::{DomainError, Incident};

/// The last incident of a page (lists run most recently active first, ties by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentCursor {
    /// `updated_at` of that incident, in microseconds since the epoch.
    pub updated_micros: i64,
    /// Its row id.
    pub row: i64,
}

/// Schema pattern of an incident cursor: what [`IncidentCursor::decode`] takes, exactly.
pub const INCIDENT_CURSOR_PATTERN: &str = r"^[0-9]{1,18}-[1-9][0-9]{0,17}$";

impl IncidentCursor {
    /// The cursor after `last`.
    pub fn after(last: &Incident) -> Self {
        Self {
            updated_micros: last.updated_at.timestamp_micros(),
            row: last.id.row(),
        }
    }

    /// The text handed out: `MICROS-ROW`. Any text of that shape is a position in the list,
    /// whether or not an incident sits exactly there.
    pub fn encode(self) -> String {
        format!("{}-{}", self.updated_micros, self.row)
    }

    /// A cursor of [`INCIDENT_CURSOR_PATTERN`]'s shape; anything else is refused naming `cursor`.
    pub fn decode(raw: &str) -> Result<Self, DomainError> {
        let bad = || {
            DomainError::invalid(
                "cursor",
                "not a cursor from an earlier page (pass its next_cursor as is)",
            )
        };
        let (t, r) = raw.split_once('-').ok_or_else(bad)?;
        let digits = |s: &str, max: usize| !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(t, 18) || !digits(r, 18) || r.starts_with('0') {
            return Err(bad());
        }
        Ok(Self {
            updated_micros: t.parse().map_err(|_| bad())?,
            row: r.parse().map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_text_is_refused_naming_the_field() {
        let c = IncidentCursor {
            updated_micros: 1_796_000_000_000_000,
            row: 42,
        };
        assert_eq!(IncidentCursor::decode(&c.encode()).unwrap(), c);
        let re = regex::Regex::new(INCIDENT_CURSOR_PATTERN).unwrap();
        assert!(re.is_match(&c.encode()));
        for bad in [
            "",
            "x",
            "1-0",
            "-1",
            "1-",
            "1-01",
            "a-1",
            "1-2-3",
            &"9".repeat(19),
            "1234567890123456789-1",
        ] {
            assert!(!re.is_match(bad), "{bad}");
            let e = IncidentCursor::decode(bad).unwrap_err();
            assert_eq!(e.field, "cursor", "{bad}");
        }
    }
}
