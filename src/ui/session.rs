//! Server-side sessions of the approval page, kept in memory: a random 256-bit id (the cookie
//! value) maps to the signed-in approver and the session's CSRF token. A session ends after
//! 30 minutes without a request, 8 hours after sign-in, or at sign-out; a restart signs
//! everyone out. Only a SHA-256 of each id is kept, so the table holds no usable cookie.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A session ends this long after its last request.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after sign-in, however busy.
pub const MAX_AGE: Duration = Duration::from_secs(8 * 3600);
/// Sessions kept at most; signing in beyond it ends the oldest.
const MAX_SESSIONS: usize = 10_000;

/// 32 random bytes from the operating system, as 64 hex digits.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Whether two tokens are equal, in time independent of where they differ.
pub fn tokens_match(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The signed-in approver and the session's CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The approver's configured name (recorded as `human:NAME`).
    pub approver: String,
    pub csrf: String,
}

struct Entry {
    info: SessionInfo,
    created: Instant,
    last_seen: Instant,
}

#[derive(Default)]
pub struct Sessions {
    by_hash: Mutex<HashMap<[u8; 32], Entry>>,
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Signs `approver` in: the new session's id (for the cookie) and its info.
    pub fn create(&self, approver: &str) -> (String, SessionInfo) {
        self.create_at(approver, Instant::now())
    }

    fn create_at(&self, approver: &str, now: Instant) -> (String, SessionInfo) {
        let id = random_token();
        let info = SessionInfo {
            approver: approver.to_owned(),
            csrf: random_token(),
        };
        let mut map = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, e| alive(e, now));
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, e)| e.last_seen).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        let entry = Entry {
            info: info.clone(),
            created: now,
            last_seen: now,
        };
        map.insert(key(&id), entry);
        (id, info)
    }

    /// The live session `id`, which counts as activity; `None` when unknown or expired.
    pub fn get(&self, id: &str) -> Option<SessionInfo> {
        self.get_at(id, Instant::now())
    }

    fn get_at(&self, id: &str, now: Instant) -> Option<SessionInfo> {
        let mut map = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        let k = key(id);
        match map.get_mut(&k) {
            Some(e) if alive(e, now) => {
                e.last_seen = now;
                Some(e.info.clone())
            }
            Some(_) => {
                map.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Ends session `id` (sign-out).
    pub fn remove(&self, id: &str) {
        let mut map = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&key(id));
    }
}

fn alive(e: &Entry, now: Instant) -> bool {
    now.saturating_duration_since(e.last_seen) < IDLE && now.saturating_duration_since(e.created) < MAX_AGE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_until_idle_or_too_old_or_removed() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let (id, info) = s.create_at("alice", t0);
        assert_eq!(id.len(), 64);
        assert_ne!(id, info.csrf);
        assert_eq!(s.get_at(&id, t0 + Duration::from_secs(60)), Some(info.clone()));
        assert_eq!(s.get_at("not-an-id", t0), None);
        // Activity keeps it alive past one idle period...
        let mut t = t0;
        for _ in 0..20 {
            t += IDLE - Duration::from_secs(1);
            if t.duration_since(t0) >= MAX_AGE {
                break;
            }
            assert!(s.get_at(&id, t).is_some());
        }
        // ...but not past the maximum age.
        assert_eq!(s.get_at(&id, t0 + MAX_AGE), None);
        let (id, _) = s.create_at("alice", t0);
        assert_eq!(s.get_at(&id, t0 + IDLE), None, "idle too long");
        let (id, _) = s.create_at("bob", t0);
        s.remove(&id);
        assert_eq!(s.get_at(&id, t0), None);
    }

    #[test]
    fn tokens_compare_whole() {
        let t = random_token();
        assert!(tokens_match(&t, &t.clone()));
        assert!(!tokens_match(&t, &t[..63]));
        assert!(!tokens_match("", ""));
        assert_ne!(random_token(), random_token());
    }
}
