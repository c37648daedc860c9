//! Retry timing: exponential backoff with jitter, and `Retry-After` (seconds or HTTP date).

use std::{
    hash::{BuildHasher, Hasher},
    time::Duration,
};

use chrono::{DateTime, Utc};

use super::RetryAfter;

/// How often and how long the dispatcher retries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
    pub max_attempts: u32,
    pub lease_secs: u64,
    /// Rows claimed per pass: few enough that all are attempted before their lease ends.
    pub claim_batch: u32,
}

impl RetryPolicy {
    pub fn from_config(cfg: &super::NotifyConfig) -> Self {
        Self {
            base: Duration::from_secs(cfg.retry_base_secs),
            max: Duration::from_secs(cfg.retry_max_secs.max(cfg.retry_base_secs)),
            max_attempts: cfg.max_attempts,
            lease_secs: cfg.lease_secs,
            claim_batch: (cfg.lease_secs / cfg.timeout_secs.max(1))
                .saturating_sub(1)
                .clamp(1, 32) as u32,
        }
    }

    /// Delay after the `attempts`-th failed attempt: `base * 2^(attempts-1)`, capped at `max`,
    /// of which the upper half is random ("equal jitter"), so retries spread but never come early.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
            .min(self.max);
        let half = exp / 2;
        let mut h = std::hash::RandomState::new().build_hasher();
        h.write_u32(attempts);
        let frac = (h.finish() % 1_000_001) as f64 / 1_000_000.0;
        half + Duration::from_secs_f64(half.as_secs_f64() * frac)
    }

    /// When to try again after a failed attempt at `now`: the backoff, or later if the
    /// receiver's `Retry-After` says so.
    pub fn next_at(&self, now: DateTime<Utc>, attempts: u32, retry_after: Option<RetryAfter>) -> DateTime<Utc> {
        let backoff = now + chrono::Duration::from_std(self.backoff(attempts)).unwrap_or(chrono::Duration::MAX);
        let asked = match retry_after {
            None => now,
            Some(RetryAfter::Secs(s)) => now + chrono::Duration::seconds(s.min(86_400) as i64),
            Some(RetryAfter::At(t)) => t.min(now + chrono::Duration::days(1)),
        };
        backoff.max(asked)
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(v: &str) -> Option<RetryAfter> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(RetryAfter::Secs(secs));
    }
    httpdate::parse_http_date(v)
        .ok()
        .map(|t| RetryAfter::At(DateTime::<Utc>::from(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        assert_eq!(parse_retry_after(" 120 "), Some(RetryAfter::Secs(120)));
        let at = parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            at,
            RetryAfter::At("2015-10-21T07:28:00Z".parse::<DateTime<Utc>>().unwrap())
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_respects_retry_after() {
        let p = RetryPolicy {
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
            max_attempts: 5,
            lease_secs: 30,
            claim_batch: 1,
        };
        for (n, exp) in [(1, 2.0), (2, 4.0), (3, 8.0), (10, 60.0)] {
            let d = p.backoff(n).as_secs_f64();
            assert!(d >= exp / 2.0 && d <= exp, "attempt {n}: {d}");
        }
        let now = Utc::now();
        let next = p.next_at(now, 1, Some(RetryAfter::Secs(30)));
        assert!(next >= now + chrono::Duration::seconds(30));
        let next = p.next_at(now, 1, None);
        assert!(next >= now + chrono::Duration::seconds(1) && next <= now + chrono::Duration::seconds(2));
    }
}
