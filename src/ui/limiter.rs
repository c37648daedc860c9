//! Sign-in throttling of the approval page: 5 failed sign-ins for one (name, client address)
//! within 15 minutes lock that pair out for 15 minutes, during which even the right password
//! is refused. In memory, per process.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

/// Failures within [`WINDOW`] that lock a (name, address) pair.
pub const MAX_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Pairs tracked at most; beyond it the stalest are forgotten.
const MAX_KEYS: usize = 10_000;

/// Whether a sign-in may be tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    Locked { secs_left: u64 },
}

#[derive(Default)]
struct Attempts {
    failures: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

#[derive(Default)]
pub struct SignInLimiter {
    by_key: Mutex<HashMap<(String, String), Attempts>>,
}

impl SignInLimiter {
    pub fn check(&self, name: &str, addr: &str) -> Gate {
        self.check_at(name, addr, Instant::now())
    }

    fn check_at(&self, name: &str, addr: &str, now: Instant) -> Gate {
        let map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        match map
            .get(&(name.to_owned(), addr.to_owned()))
            .and_then(|a| a.locked_until)
        {
            Some(until) if until > now => Gate::Locked {
                secs_left: (until - now).as_secs().max(1),
            },
            _ => Gate::Open,
        }
    }

    /// Records a failed sign-in; `true` when this failure locked the pair.
    pub fn fail(&self, name: &str, addr: &str) -> bool {
        self.fail_at(name, addr, Instant::now())
    }

    fn fail_at(&self, name: &str, addr: &str, now: Instant) -> bool {
        let mut map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS {
            map.retain(|_, a| {
                a.locked_until.is_some_and(|u| u > now) || a.failures.back().is_some_and(|t| now - *t < WINDOW)
            });
        }
        if map.len() >= MAX_KEYS
            && let Some(k) = map
                .iter()
                .min_by_key(|(_, a)| a.failures.back().copied())
                .map(|(k, _)| k.clone())
        {
            map.remove(&k);
        }
        let a = map.entry((name.to_owned(), addr.to_owned())).or_default();
        while a
            .failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            a.failures.pop_front();
        }
        a.failures.push_back(now);
        if a.failures.len() >= MAX_FAILURES {
            a.failures.clear();
            a.locked_until = Some(now + LOCKOUT);
            return true;
        }
        false
    }

    /// A successful sign-in forgets the pair's failures.
    pub fn succeed(&self, name: &str, addr: &str) {
        let mut map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&(name.to_owned(), addr.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_pair_for_fifteen_minutes() {
        let l = SignInLimiter::default();
        let t0 = Instant::now();
        for i in 0..4 {
            assert!(!l.fail_at("alice", "10.0.0.1", t0 + Duration::from_secs(i)));
        }
        assert_eq!(l.check_at("alice", "10.0.0.1", t0), Gate::Open);
        assert!(l.fail_at("alice", "10.0.0.1", t0 + Duration::from_secs(5)));
        assert!(matches!(
            l.check_at("alice", "10.0.0.1", t0 + Duration::from_secs(6)),
            Gate::Locked { secs_left } if secs_left > 890
        ));
        // Other names and addresses are not affected.
        assert_eq!(l.check_at("bob", "10.0.0.1", t0), Gate::Open);
        assert_eq!(l.check_at("alice", "10.0.0.2", t0), Gate::Open);
        assert_eq!(
            l.check_at("alice", "10.0.0.1", t0 + LOCKOUT + Duration::from_secs(5)),
            Gate::Open
        );
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_lock_and_success_resets() {
        let l = SignInLimiter::default();
        let t0 = Instant::now();
        for i in 0..10u64 {
            assert!(
                !l.fail_at("alice", "a", t0 + Duration::from_secs(i * 240)),
                "failure {i}"
            );
        }
        for _ in 0..4 {
            l.fail_at("bob", "a", t0);
        }
        l.succeed("bob", "a");
        assert!(!l.fail_at("bob", "a", t0));
    }
}
