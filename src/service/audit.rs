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
    pub async fn audit_recent(&self, limit: u32) -> Result<AuditList, ServiceError> {
        let entries = self.store.audit_recent(limit.clamp(1, 1000)).await?;
        Ok(AuditList {
            count: entries.len(),
            entries,
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
