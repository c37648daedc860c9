//! Timestamps on the wire: RFC 3339 in UTC, written digit by digit.
//!
//! chrono's own `Serialize` goes through `core::fmt` (and, into a `serde_json::Value`, through a
//! `String` built by `to_string`); the incidents and signals of a page carry dozens of timestamps,
//! and formatting them was a fifteenth of `incident_list`'s CPU. [`serialize`] writes the same
//! text (`2026-12-07T10:00:01.188002Z`: fractional seconds in 0, 3, 6 or 9 digits, as chrono's
//! `SecondsFormat::AutoSi`) into a stack buffer, and hands anything unusual (years outside
//! 0..=9999, leap seconds) back to chrono.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// `serialize_with` for `DateTime<Utc>` fields: the same text as chrono's `Serialize`.
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    match write(t, &mut buf) {
        Some(text) => s.serialize_str(text),
        None => t.serialize(s),
    }
}

/// Writes `t` into `buf`, or `None` when chrono's fuller formatter is needed.
fn write<'a>(t: &DateTime<Utc>, buf: &'a mut [u8; 30]) -> Option<&'a str> {
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nano = t.nanosecond();
    if nano >= 1_000_000_000 {
        return None;
    }
    let two = |b: &mut [u8], v: u32| {
        b[0] = b'0' + (v / 10) as u8;
        b[1] = b'0' + (v % 10) as u8;
    };
    two(&mut buf[0..2], year / 100);
    two(&mut buf[2..4], year % 100);
    buf[4] = b'-';
    two(&mut buf[5..7], t.month());
    buf[7] = b'-';
    two(&mut buf[8..10], t.day());
    buf[10] = b'T';
    two(&mut buf[11..13], t.hour());
    buf[13] = b':';
    two(&mut buf[14..16], t.minute());
    buf[16] = b':';
    two(&mut buf[17..19], t.second());
    let (digits, mut fraction) = match nano {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (3, n / 1_000_000),
        n if n % 1_000 == 0 => (6, n / 1_000),
        n => (9, n),
    };
    let mut len = 19;
    if digits > 0 {
        buf[19] = b'.';
        for i in (20..20 + digits).rev() {
            buf[i] = b'0' + (fraction % 10) as u8;
            fraction /= 10;
        }
        len = 20 + digits;
    }
    buf[len] = b'Z';
    std::str::from_utf8(&buf[..=len]).ok()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    #[derive(Serialize)]
    struct Ours(#[serde(serialize_with = "serialize")] DateTime<Utc>);

    fn same_as_chrono(t: DateTime<Utc>) {
        let chrono = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::to_string(&Ours(t)).unwrap(), chrono, "{t:?}");
        assert_eq!(serde_json::to_value(Ours(t)).unwrap(), serde_json::to_value(t).unwrap());
    }

    #[test]
    fn edges_match_chrono() {
        for (secs, nanos) in [
            (0, 0),
            (1_796_000_401, 188_002_000),
            (1_796_000_401, 120_000_000),
            (1_796_000_401, 1),
            (1_796_000_401, 999_999_999),
            (-62_167_219_200, 0),           // 0000-01-01
            (253_402_300_799, 999_000_000), // 9999-12-31T23:59:59.999
            (253_402_300_800, 0),           // 10000-01-01: chrono's signed year
            (-62_167_219_201, 5),           // -0001-12-31: chrono's signed year
        ] {
            same_as_chrono(Utc.timestamp_opt(secs, nanos).unwrap());
        }
        // A leap second (nanosecond >= 1e9) goes to chrono too.
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        same_as_chrono(leap);
    }

    proptest! {
        #[test]
        fn any_time_matches_chrono(secs in -100_000_000_000i64..300_000_000_000, nanos in 0u32..1_000_000_000, round in 0usize..4) {
            let nanos = [nanos, nanos / 1_000 * 1_000, nanos / 1_000_000 * 1_000_000, 0][round];
            same_as_chrono(Utc.timestamp_opt(secs, nanos).unwrap());
        }
    }
}
