//! The tamper-evident audit chain: each entry's hash covers its own fields and the previous
//! entry's hash, so editing, deleting or reordering a stored row breaks every later link.
//! Pure: hashing and verification only; the store appends rows.

use std::fmt;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{IncidentId, digest, sanitize_untrusted, untrusted::is_secret_key};

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const REDACTED: &str = "[REDACTED]";

super::incident::string_enum! {
    /// What an audit entry records.
    AuditKind {
        /// A plan was computed (nothing changed).
        Proposal = "proposal",
        /// A human approved a plan hash.
        Approval = "approval",
        /// A human denied a plan (final: it is never applied).
        Denial = "denial",
        /// A one-time approval code was issued to an approver or used (only its salted hash).
        Code = "code",
        /// Policy or the approval check refused something.
        Refusal = "refusal",
        /// About to call a backend (committed before the call).
        Intent = "intent",
        /// The backend applied a change.
        Application = "application",
        /// The final result of an application (success, failure, rolled back).
        Outcome = "outcome",
        /// A containment was reverted (manually or by TTL).
        Revert = "revert",
        /// Start-up reconciliation of intents without an outcome.
        Reconcile = "reconcile",
        /// A webhook was registered or removed at run time (`op`: add, remove).
        Hook = "hook",
        /// A person opened an incident by asking to contain something no incident named.
        Declaration = "declaration",
        /// Dead notifications were put back in the outbox's queue (`outbox retry`).
        Outbox = "outbox",
        /// Someone acknowledged an incident.
        Acknowledgement = "acknowledgement",
        /// A note was added to an incident's timeline.
        Note = "note",
        /// An incident's owner or commander was assigned.
        Assignment = "assignment",
        /// An incident's severity was changed by a person.
        Severity = "severity",
    }
}

/// A JSON payload with secret-looking values redacted; the only way to build one.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPayload(Value);

impl AuditPayload {
    /// Redacts values under secret-looking keys and secret-looking `key=value` text in strings.
    pub fn new(v: Value) -> Self {
        Self(redact(v))
    }

    pub fn value(&self) -> &Value {
        &self.0
    }

    pub fn into_value(self) -> Value {
        self.0
    }
}

fn redact(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    if is_secret_key(&k) {
                        (k, Value::String(REDACTED.into()))
                    } else {
                        (k, redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        // A salted argon2id hash (a one-time code's) is ours, never a secret in clear; its random
        // base64 can spell a secret-looking key (`pwd`) next to its `v=19`, so the sanitiser
        // would take it for `key=value` text and destroy it.
        Value::String(s) if is_argon2id_phc(&s) => Value::String(s),
        Value::String(s) => {
            // Keep the text as is unless the sanitiser finds a secret in it.
            let clean = sanitize_untrusted(&s);
            if clean.contains(REDACTED) && !s.contains(REDACTED) {
                Value::String(clean)
            } else {
                Value::String(s)
            }
        }
        other => other,
    }
}

/// Exactly an argon2id PHC string: parameters, then base64 salt and hash (no `=`, no spaces, so
/// no `key=value` text can hide in one).
fn is_argon2id_phc(s: &str) -> bool {
    static PHC: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"^\$argon2id\$v=19\$m=[0-9]{1,7},t=[0-9]{1,3},p=[0-9]{1,3}\$[A-Za-z0-9+/]{16,64}\$[A-Za-z0-9+/]{16,128}$",
        )
        .expect("PHC pattern compiles")
    });
    PHC.is_match(s)
}

/// An entry before it is chained: the store assigns `seq`, `at`, `prev_hash` and `hash`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    pub actor: String,
    pub kind: AuditKind,
    pub incident_id: Option<IncidentId>,
    pub plan_id: Option<String>,
    pub payload: AuditPayload,
}

impl NewAuditEntry {
    pub fn new(actor: impl Into<String>, kind: AuditKind, payload: Value) -> Self {
        Self {
            actor: actor.into(),
            kind,
            incident_id: None,
            plan_id: None,
            payload: AuditPayload::new(payload),
        }
    }

    pub fn incident(mut self, id: IncidentId) -> Self {
        self.incident_id = Some(id);
        self
    }

    pub fn plan(mut self, id: impl Into<String>) -> Self {
        self.plan_id = Some(id.into());
        self
    }

    /// Chains this entry after `prev` (`None` for the first entry).
    pub fn chain(self, prev: Option<(i64, &str)>, at: DateTime<Utc>) -> AuditEntry {
        let (seq, prev_hash) = match prev {
            Some((seq, hash)) => (seq + 1, hash.to_owned()),
            None => (1, GENESIS_HASH.to_owned()),
        };
        let mut e = AuditEntry {
            seq,
            // Stored with microsecond precision; hash what is stored.
            at: DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at),
            actor: self.actor,
            kind: self.kind.to_string(),
            incident_id: self.incident_id,
            plan_id: self.plan_id,
            payload: self.payload.into_value(),
            prev_hash,
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        e
    }
}

/// One stored audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// Principal that caused the entry (e.g. `cli`, `mcp`, `approver:alice`).
    pub actor: String,
    /// proposal, approval, refusal, intent, application, outcome, revert, reconcile, hook.
    pub kind: String,
    /// The incident the entry concerns, if any (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<IncidentId>,
    /// The plan the entry concerns, if any (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
    /// Details, secrets redacted.
    pub payload: Value,
    /// Hash of the previous entry (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over the canonical JSON of all fields above.
    pub hash: String,
}

impl AuditEntry {
    /// SHA-256 (hex) over the canonical JSON of (seq, at, actor, kind, ids, payload, prev_hash).
    pub fn compute_hash(&self) -> String {
        let doc = json!({
            "seq": self.seq,
            "at": self.at.timestamp_micros(),
            "actor": self.actor,
            "kind": self.kind,
            "incident_id": self.incident_id.map(|i| i.row()),
            "plan_id": self.plan_id,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
        });
        digest::sha256_hex(digest::canonical_json(&doc).as_bytes())
    }
}

/// The last entry's position and hash, kept apart from the rows so truncation shows.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
}

/// An entry's position and hash as kept outside the database (a webhook receiver, PagerDuty,
/// a ticket, a log shipper), written `SEQ:HASH`. The chain alone proves only that rows were not
/// altered piecemeal: whoever can write the file can rebuild every hash and the head. An anchor
/// they cannot reach catches that: the rebuilt entry at `seq` no longer has `hash`, or is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AuditAnchor {
    pub seq: i64,
    /// SHA-256, 64 lowercase hex digits.
    pub hash: String,
}

impl fmt::Display for AuditAnchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

impl std::str::FromStr for AuditAnchor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "an audit anchor is SEQ:HASH (a positive seq, 64 hex digits), not `{}`",
                super::clip(s, 80)
            )
        };
        let (seq, hash) = s.trim().split_once(':').ok_or_else(bad)?;
        let seq: i64 = seq.parse().ok().filter(|n| *n >= 1).ok_or_else(bad)?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Self {
            seq,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

impl From<&AuditHead> for AuditAnchor {
    fn from(h: &AuditHead) -> Self {
        Self {
            seq: h.seq,
            hash: h.hash.clone(),
        }
    }
}

/// Where and how the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first sequence number that does not check out.
    pub seq: i64,
    pub reason: String,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "audit chain broken at seq {}: {}", self.seq, self.reason)
    }
}

/// Incremental verifier: feed entries in ascending `seq` order, then `finish` with the head.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    last: Option<(i64, String)>,
    count: u64,
    /// Anchors not yet reached, by seq.
    anchors: std::collections::BTreeMap<i64, String>,
}

impl ChainVerifier {
    /// Also checks each entry named by an anchor against the hash kept outside.
    pub fn with_anchors(anchors: &[AuditAnchor]) -> Result<Self, ChainBreak> {
        let mut map = std::collections::BTreeMap::new();
        for a in anchors {
            if let Some(other) = map.insert(a.seq, a.hash.clone())
                && other != a.hash
            {
                return Err(ChainBreak {
                    seq: a.seq,
                    reason: "two anchors name different hashes for this entry: at most one of them is genuine".into(),
                });
            }
        }
        Ok(Self {
            anchors: map,
            ..Self::default()
        })
    }

    /// Entries that checked out so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn push(&mut self, e: &AuditEntry) -> Result<(), ChainBreak> {
        let (want_seq, want_prev) = match &self.last {
            Some((seq, hash)) => (seq + 1, hash.as_str()),
            None => (1, GENESIS_HASH),
        };
        let brk = |seq, reason: String| Err(ChainBreak { seq, reason });
        if e.seq != want_seq {
            return brk(
                want_seq,
                format!("entry {want_seq} is missing or out of order (found {} next)", e.seq),
            );
        }
        if !digest::same_digest(&e.prev_hash, want_prev) {
            return brk(
                e.seq,
                "prev_hash does not match the previous entry (a row was deleted, replaced or reordered)".into(),
            );
        }
        if !digest::same_digest(&e.hash, &e.compute_hash()) {
            return brk(e.seq, "content does not match its hash (the row was edited)".into());
        }
        if let Some(anchored) = self.anchors.remove(&e.seq)
            && !digest::same_digest(&e.hash, &anchored)
        {
            return brk(
                e.seq,
                "the entry does not match its anchor kept outside (the chain was rewritten at or before this entry)"
                    .into(),
            );
        }
        self.last = Some((e.seq, e.hash.clone()));
        self.count += 1;
        Ok(())
    }

    /// Checks the last entry against the recorded head; returns the number of entries.
    pub fn finish(self, head: Option<&AuditHead>) -> Result<u64, ChainBreak> {
        if let Some(seq) = self.anchors.keys().next() {
            return Err(ChainBreak {
                seq: *seq,
                reason:
                    "an anchor kept outside names this entry, but the chain ends before it (truncated or rewritten)"
                        .into(),
            });
        }
        match (head, &self.last) {
            (None, None) => Ok(0),
            (None, Some((seq, _))) => Err(ChainBreak {
                seq: *seq,
                reason: "entries exist but the chain head record is missing".into(),
            }),
            (Some(h), None) => Err(ChainBreak {
                seq: 1,
                reason: format!("the head records {} entries but none are stored", h.seq),
            }),
            (Some(h), Some((seq, hash))) if h.seq > *seq => Err(ChainBreak {
                seq: seq + 1,
                reason: format!("the head records {} entries but the chain ends at {seq}", h.seq),
            }),
            (Some(h), Some((seq, hash))) if h.seq != *seq || !digest::same_digest(&h.hash, hash) => Err(ChainBreak {
                seq: *seq,
                reason: format!("the last entry does not match the chain head (head seq {})", h.seq),
            }),
            _ => Ok(self.count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A code's salted hash whose random base64 spells `pwd` survives the redactor (it once
    /// turned into `$argon2id$v=[REDACTED]`, so a freshly issued code failed to verify); text
    /// dressed as one with a `key=value` inside is still redacted.
    #[test]
    fn argon2_hashes_are_kept_and_lookalikes_are_still_redacted() {
        let phc = "$argon2id$v=19$m=19456,t=2,p=1$BdT4GnqPwDliSZspPQn9Bj$tJ2bFlGwfj18caHVll4e59N+VfWpq+Y0Hb01RdXRy70";
        let p = AuditPayload::new(json!({"code_hash": phc, "note": "v=1 pwd"}));
        assert_eq!(p.value()["code_hash"], phc);
        for fake in [
            "$argon2id$v=19$password=hunter2",
            "$argon2id$v=19$m=1,t=1,p=1$pwd=hunter2hunter2hunter2$AAAAAAAAAAAAAAAAAAAA",
        ] {
            let p = AuditPayload::new(json!({ "code_hash": fake }));
            assert!(
                p.value()["code_hash"].as_str().unwrap().contains("[REDACTED]"),
                "{fake}"
            );
        }
    }

    fn chain(n: usize) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let prev = out.last().map(|e| (e.seq, e.hash.as_str()));
            let e = NewAuditEntry::new("cli", AuditKind::Proposal, json!({"i": i})).chain(prev, Utc::now());
            out.push(e);
        }
        out
    }

    fn verify(entries: &[AuditEntry], head: Option<&AuditHead>) -> Result<u64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for e in entries {
            v.push(e)?;
        }
        v.finish(head)
    }

    fn head(e: &AuditEntry) -> AuditHead {
        AuditHead {
            seq: e.seq,
            hash: e.hash.clone(),
        }
    }

    #[test]
    fn an_intact_chain_verifies() {
        let c = chain(4);
        assert_eq!(verify(&c, Some(&head(&c[3]))), Ok(4));
        assert_eq!(verify(&[], None), Ok(0));
    }

    #[test]
    fn edits_deletions_swaps_and_truncation_name_the_first_bad_seq() {
        let c = chain(5);
        let h = head(&c[4]);
        let mut edited = c.clone();
        edited[2].payload = json!({"i": 99});
        assert_eq!(verify(&edited, Some(&h)).unwrap_err().seq, 3);
        let mut deleted = c.clone();
        deleted.remove(1);
        assert_eq!(verify(&deleted, Some(&h)).unwrap_err().seq, 2);
        let mut swapped = c.clone();
        swapped.swap(1, 2);
        (swapped[1].seq, swapped[2].seq) = (2, 3);
        assert_eq!(verify(&swapped, Some(&h)).unwrap_err().seq, 2);
        let truncated = &c[..4];
        let e = verify(truncated, Some(&h)).unwrap_err();
        assert_eq!(e.seq, 5, "{e}");
        assert!(verify(&c, None).is_err(), "rows without a head");
    }

    proptest::proptest! {
        /// Any single edit, deletion or adjacent swap anywhere in a chain is reported, and at
        /// the first position it touches.
        #[test]
        fn every_single_tampering_is_detected_where_it_happens(
            n in 1usize..25,
            at in 0usize..25,
            how in 0u8..6,
        ) {
            let c = chain(n);
            let i = at % n;
            let h = head(&c[n - 1]);
            let mut t = c.clone();
            let expect = match how {
                0 => { t[i].payload = json!({"i": "x"}); i as i64 + 1 }
                1 => { t[i].actor.push('!'); i as i64 + 1 }
                2 => { t[i].at += chrono::TimeDelta::microseconds(1); i as i64 + 1 }
                3 => { t[i].kind = "approval".into(); i as i64 + 1 }
                4 => { t.remove(i); i as i64 + 1 }
                _ if i + 1 < n => {
                    t.swap(i, i + 1);
                    (t[i].seq, t[i + 1].seq) = (i as i64 + 1, i as i64 + 2);
                    i as i64 + 1
                }
                _ => { t[i].hash = GENESIS_HASH.into(); i as i64 + 1 }
            };
            let e = verify(&t, Some(&h)).unwrap_err();
            proptest::prop_assert_eq!(e.seq, expect, "{}", e);
        }
    }

    /// Rebuilds the chain from `from` (0-based) on with consistent hashes, as someone with write
    /// access to the file could.
    fn rewrite(c: &[AuditEntry], from: usize) -> Vec<AuditEntry> {
        let mut out = c.to_vec();
        out[from].payload = json!({"i": "forged"});
        for i in from..out.len() {
            if i > 0 {
                out[i].prev_hash = out[i - 1].hash.clone();
            }
            out[i].hash = out[i].compute_hash();
        }
        out
    }

    fn verify_anchored(entries: &[AuditEntry], anchors: &[AuditAnchor]) -> Result<u64, ChainBreak> {
        let mut v = ChainVerifier::with_anchors(anchors)?;
        for e in entries {
            v.push(e)?;
        }
        v.finish(entries.last().map(head).as_ref())
    }

    #[test]
    fn anchors_catch_a_consistent_rewrite_and_a_truncation() {
        let c = chain(6);
        let a = |i: usize| AuditAnchor::from(&head(&c[i]));
        // A rewrite from entry 3 on: the chain and its head are self-consistent again.
        let forged = rewrite(&c, 2);
        assert_eq!(
            verify(&forged, Some(&head(&forged[5]))),
            Ok(6),
            "the limit anchors are for"
        );
        let e = verify_anchored(&forged, &[a(5)]).unwrap_err();
        assert_eq!(e.seq, 6, "{e}");
        let e = verify_anchored(&forged, &[a(1), a(3), a(5)]).unwrap_err();
        assert_eq!(e.seq, 4, "the first anchor after the rewrite names it: {e}");
        // Anchors before the rewrite still match.
        assert_eq!(verify_anchored(&forged, &[a(0), a(1)]), Ok(6));
        assert_eq!(verify_anchored(&c, &[a(0), a(3), a(5)]), Ok(6));
        // Truncated below an anchor, head rewritten to match.
        let e = verify_anchored(&c[..4], &[a(5)]).unwrap_err();
        assert_eq!(e.seq, 6, "{e}");
        assert!(e.reason.contains("ends before"), "{e}");
        // Two different hashes for one entry.
        let mut other = a(2);
        other.hash = c[3].hash.clone();
        assert_eq!(verify_anchored(&c, &[a(2), other]).unwrap_err().seq, 3);
    }

    #[test]
    fn anchors_parse_as_seq_colon_hash_and_nothing_else() {
        let h = "AB".repeat(32);
        let a: AuditAnchor = format!("12:{h}").parse().unwrap();
        assert_eq!((a.seq, a.hash.as_str()), (12, "ab".repeat(32).as_str()));
        assert_eq!(a.to_string(), format!("12:{}", "ab".repeat(32)));
        for bad in ["", "12", "0:{h}", "-1:{h}", "x:{h}", "12:abc", "12:{h}0", "12:{g}"] {
            let bad = bad.replace("{h}", &h).replace("{g}", &"g".repeat(64));
            let e = bad.parse::<AuditAnchor>().unwrap_err();
            assert!(e.contains("SEQ:HASH"), "{bad}: {e}");
        }
    }

    #[test]
    fn secrets_never_reach_the_payload() {
        let p = AuditPayload::new(json!({
            "namespace": "shop",
            "auth": {"api_token": "t0ps3cret", "Password": "hunter2"},
            "argv": ["--user", "password=hunter2"],
        }));
        let text = p.value().to_string();
        assert!(!text.contains("t0ps3cret") && !text.contains("hunter2"), "{text}");
        assert_eq!(p.value()["namespace"], "shop");
    }
}
