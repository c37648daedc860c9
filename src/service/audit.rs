//! Audit use-cases: recent entries and chain verification.

use schemars::JsonSchema;
use serde::Serialize;

use super::{IncidentService, ServiceError};
use crate::domain::audit::{AuditAnchor, AuditEntry, ChainVerifier};

/// Entries read per page while verifying.
const VERIFY_PAGE: u32 = 1000;

/// Recent audit entries, newest first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuditList {
    pub entries: Vec<AuditEntry>,
    pub count: usize,
    /// The next page: pass it as `before` (absent on the last page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

/// Which audit entries to list: the newest, or those before an earlier page's end.
#[derive(Debug, Clone, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditListRequest {
    /// Entries returned, 1-1000 (default 50), newest first.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// Only entries with a smaller sequence number: the previous page's `next_before`.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub before: Option<i64>,
}

/// Result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AuditVerification {
    /// Entries checked (up to the first break).
    pub entries: u64,
    pub intact: bool,
    /// The first sequence number that does not check out.
    pub first_bad_seq: Option<i64>,
    pub reason: Option<String>,
    /// Recorded head hash: compare it with a copy kept elsewhere to detect a full rewrite.
    pub head_hash: Option<String>,
    /// The head as an anchor (`SEQ:HASH`) to keep outside and pass to a later `--anchor`.
    pub head_anchor: Option<String>,
    /// Anchors checked (all of them when `intact`).
    pub anchors: usize,
    pub summary: String,
}

impl IncidentService {
    /// The newest `limit` entries (1-1000) with `seq < before`, and where the next page starts.
    pub async fn audit_recent(&self, limit: u32, before: Option<i64>) -> Result<AuditList, ServiceError> {
        page_bounds(limit, before)?;
        let mut entries = self.store.audit_older(before.unwrap_or(i64::MAX), limit + 1).await?;
        let next_before = page_end(&mut entries, limit, |e| e.seq);
        Ok(AuditList {
            count: entries.len(),
            entries,
            next_before,
        })
    }

    /// The chain's head as an anchor to keep outside the database; `None` while the log is empty.
    pub async fn audit_anchor(&self) -> Result<Option<AuditAnchor>, ServiceError> {
        Ok(self.store.audit_head().await?.as_ref().map(AuditAnchor::from))
    }

    /// Walks the chain from seq 1 in pages and checks it against the recorded head and against
    /// `anchors` kept outside the database (which also catch a consistent rewrite of the whole
    /// chain and head).
    pub async fn audit_verify(&self, anchors: &[AuditAnchor]) -> Result<AuditVerification, ServiceError> {
        let head = self.store.audit_head().await?;
        let head_anchor = head.as_ref().map(|h| AuditAnchor::from(h).to_string());
        let mut v = match ChainVerifier::with_anchors(anchors) {
            Ok(v) => v,
            Err(brk) => return Err(ServiceError::Conflict(format!("{brk}; nothing was verified"))),
        };
        let mut after = 0;
        let (result, checked) = loop {
            let page: Vec<AuditEntry> = self.store.audit_page(after, VERIFY_PAGE).await?;
            let Some(last) = page.last() else {
                let n = v.count();
                break (v.finish(head.as_ref()), n);
            };
            after = last.seq;
            if let Some(brk) = page.iter().find_map(|e| v.push(e).err()) {
                break (Err(brk), v.count());
            }
        };
        let head_hash = head.map(|h| h.hash);
        let anchored = match anchors.len() {
            0 => String::new(),
            1 => ", matches its anchor".into(),
            n => format!(", matches its {n} anchors"),
        };
        Ok(match result {
            Ok(n) => AuditVerification {
                entries: n,
                intact: true,
                first_bad_seq: None,
                reason: None,
                summary: format!("{n} entries, chain intact{anchored}"),
                head_hash,
                head_anchor,
                anchors: anchors.len(),
            },
            Err(brk) => AuditVerification {
                entries: checked,
                intact: false,
                first_bad_seq: Some(brk.seq),
                reason: Some(brk.reason.clone()),
                summary: brk.to_string(),
                head_hash,
                head_anchor,
                anchors: anchors.len(),
            },
        })
    }
}

/// A page of 1-1000 rows, before a positive key: anything else is refused naming the field.
pub(super) fn page_bounds(limit: u32, before: Option<i64>) -> Result<(), ServiceError> {
    use crate::domain::DomainError;
    if !(1..=1000).contains(&limit) {
        return Err(DomainError::invalid("limit", format!("{limit} is outside 1..1000")).into());
    }
    if let Some(b) = before.filter(|b| *b < 1) {
        return Err(DomainError::invalid("before", format!("{b} is not a positive sequence number or id")).into());
    }
    Ok(())
}

/// Cuts a page read with one row too many to `limit`; the key of its last row when more remain.
pub(super) fn page_end<T, K>(rows: &mut Vec<T>, limit: u32, key: impl Fn(&T) -> K) -> Option<K> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    more.then(|| rows.last().map(key)).flatten()
}
