//! Label values that are names: capped (our own names) or allowlisted (configured names).

use std::{collections::HashSet, sync::RwLock};

/// The bucket every value outside a label's allowed set falls into.
pub const OTHER: &str = "other";

/// Longest label value kept (a route template with its method, a tool name).
pub const MAX_LABEL_LEN: usize = 80;

/// Distinct values a capped label may take before new ones become `other`.
pub const MAX_NAMES: usize = 128;

/// A label's allowed values: an allowlist (configured names), optionally open to new values
/// of a safe shape up to a cap (names from our own code). Everything else is [`OTHER`].
pub struct LabelValues {
    allowed: RwLock<HashSet<String>>,
    /// New values admitted while fewer than this many are known (0: allowlist only).
    cap: usize,
}

impl LabelValues {
    /// Only values passed to [`Self::allow`].
    pub fn allowlist() -> Self {
        Self {
            allowed: RwLock::default(),
            cap: 0,
        }
    }

    /// Any safe value until `cap` distinct values are known.
    pub fn capped(cap: usize) -> Self {
        Self {
            allowed: RwLock::default(),
            cap,
        }
    }

    /// Whether `v` may be a label value at all: short, printable ASCII of the shapes our names
    /// take (`incident_list`, `POST /api/plans/{plan_id}/approve`, `prod-logs.1`).
    pub fn safe(v: &str) -> bool {
        !v.is_empty()
            && v.len() <= MAX_LABEL_LEN
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || b" _-./{}:".contains(&b))
    }

    /// Adds configured names (unsafe ones are ignored and stay `other`).
    pub fn allow<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let mut set = self.allowed.write().unwrap_or_else(|p| p.into_inner());
        for n in names.into_iter().filter(|n| Self::safe(n)) {
            if set.len() >= MAX_NAMES * 4 {
                break;
            }
            set.insert(n.to_owned());
        }
    }

    /// The values allowed so far.
    pub(super) fn known(&self) -> Vec<String> {
        let set = self.allowed.read().unwrap_or_else(|p| p.into_inner());
        set.iter().cloned().collect()
    }

    /// The label value for `v`: itself when allowed (or admitted now), else [`OTHER`].
    pub fn value(&self, v: &str) -> String {
        if self.allowed.read().unwrap_or_else(|p| p.into_inner()).contains(v) {
            return v.to_owned();
        }
        if self.cap == 0 || !Self::safe(v) {
            return OTHER.to_owned();
        }
        let mut set = self.allowed.write().unwrap_or_else(|p| p.into_inner());
        if set.contains(v) || set.len() < self.cap {
            set.insert(v.to_owned());
            v.to_owned()
        } else {
            OTHER.to_owned()
        }
    }
}
