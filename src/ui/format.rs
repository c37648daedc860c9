//! Plain-text pieces of the pages: durations, a plan's state, changes as diff lines.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{
    cluster::{Change, KubeVerb},
    service::{PlanStatus, PlanView},
};

/// `2h 5m`, `4m 10s`, `12s`.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m {sec}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

/// `2026-07-28 10:15:03 UTC`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Where a plan stands for a human: a word (also the badge's CSS class) and a sentence.
pub fn plan_state(v: &PlanView, now: DateTime<Utc>) -> (&'static str, String) {
    match v.plan.status {
        PlanStatus::Applied => ("applied", "applied".into()),
        PlanStatus::Denied => {
            let by = v.denial.as_ref().map(|d| d.denied_by.as_str()).unwrap_or("a human");
            ("denied", format!("denied by {by}"))
        }
        PlanStatus::NotApplied => ("not-applied", "not applied (its apply failed); still pending".into()),
        PlanStatus::Pending => match &v.approval {
            Some(a) if a.state == "valid" => (
                "valid",
                format!(
                    "approved by {}, valid for {} more (until {})",
                    a.approver,
                    duration((a.expires_at - now).num_seconds()),
                    time(a.expires_at)
                ),
            ),
            Some(a) if a.state == "expired" => (
                "expired",
                format!(
                    "approval by {} expired at {}; pending again",
                    a.approver,
                    time(a.expires_at)
                ),
            ),
            Some(a) if a.state == "used" => ("pending", format!("approval by {} was used", a.approver)),
            _ => ("pending", "pending: waiting for a human".into()),
        },
    }
}

/// One line of a change list: `+` adds, `-` removes, `~` changes in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub sign: char,
    pub text: String,
}

impl DiffLine {
    pub fn class(&self) -> &'static str {
        match self.sign {
            '+' => "add",
            '-' => "del",
            _ => "chg",
        }
    }
}

/// The lines showing what `changes` will do.
pub fn diff_lines(changes: &[Value]) -> Vec<DiffLine> {
    let mut out = Vec::new();
    for raw in changes {
        match serde_json::from_value::<Change>(raw.clone()) {
            Ok(Change::Kube {
                verb,
                api_version,
                kind,
                namespace,
                name,
                patch,
                body,
                resource_version,
            }) => {
                let sign = match verb {
                    KubeVerb::Create => '+',
                    KubeVerb::Delete => '-',
                    KubeVerb::Patch => '~',
                };
                let at = namespace.map(|ns| format!("{ns}/")).unwrap_or_default();
                let how = patch
                    .and_then(|p| serde_json::to_value(p).ok())
                    .and_then(|p| p.as_str().map(|s| format!(" ({s} patch)")))
                    .unwrap_or_default();
                let rv = resource_version
                    .map(|r| format!(" if still at resourceVersion {r}"))
                    .unwrap_or_default();
                let verb = serde_json::to_value(verb).ok();
                let verb = verb.as_ref().and_then(Value::as_str).unwrap_or("change");
                out.push(DiffLine {
                    sign,
                    text: format!("{verb} {kind} {at}{name} [{api_version}]{how}{rv}"),
                });
                if let Some(b) = body {
                    let pretty = serde_json::to_string_pretty(&b).unwrap_or_default();
                    out.extend(pretty.lines().map(|l| DiffLine {
                        sign,
                        text: format!("    {l}"),
                    }));
                }
            }
            Ok(Change::Sandbox {
                verb,
                kind,
                namespace,
                name,
                body,
                resource_version,
                ..
            }) => {
                let sign = match verb {
                    KubeVerb::Create => '+',
                    KubeVerb::Delete => '-',
                    KubeVerb::Patch => '~',
                };
                let at = namespace.map(|ns| format!("{ns}/")).unwrap_or_default();
                let rv = resource_version
                    .map(|r| format!(" if still at version {r}"))
                    .unwrap_or_default();
                let verb = serde_json::to_value(verb).ok();
                let verb = verb.as_ref().and_then(Value::as_str).unwrap_or("change");
                out.push(DiffLine {
                    sign,
                    text: format!("{verb} {kind} {at}{name} [sandbox: simulated, nothing real changes]{rv}"),
                });
                if let Some(b) = body {
                    let pretty = serde_json::to_string_pretty(&b).unwrap_or_default();
                    out.extend(pretty.lines().map(|l| DiffLine {
                        sign,
                        text: format!("    {l}"),
                    }));
                }
            }
            Ok(Change::Script { script, sha256, argv }) => {
                out.push(DiffLine {
                    sign: '~',
                    text: format!("run script {script} (sha256 {})", &sha256[..sha256.len().min(16)]),
                });
                for (i, a) in argv.iter().enumerate() {
                    out.push(DiffLine {
                        sign: '~',
                        text: format!("    argv[{}] = {a:?}", i + 1),
                    });
                }
            }
            Err(_) => out.push(DiffLine {
                sign: '~',
                text: serde_json::to_string(raw).unwrap_or_default(),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(12), "12s");
        assert_eq!(duration(250), "4m 10s");
        assert_eq!(duration(7500), "2h 5m");
        assert_eq!(duration(-3), "0s");
    }

    #[test]
    fn changes_become_signed_lines() {
        let create = json!({"backend": "kube", "verb": "create", "api_version": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                            "namespace": "shop", "name": "quarantine-web-1", "body": {"spec": {}}});
        let delete = json!({"backend": "kube", "verb": "delete", "api_version": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                            "namespace": "shop", "name": "quarantine-web-1", "resource_version": "7"});
        let script = json!({"backend": "script", "script": "restart", "sha256": "ab".repeat(32), "argv": ["web-1"]});
        let lines = diff_lines(&[create, delete, script]);
        assert_eq!(lines[0].sign, '+');
        assert_eq!(
            lines[0].text,
            "create NetworkPolicy shop/quarantine-web-1 [networking.k8s.io/v1]"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.sign == '-' && l.text.contains("if still at resourceVersion 7"))
        );
        assert!(lines.iter().any(|l| l.text == "    argv[1] = \"web-1\""));
    }
}
