//! Incident management by people: what a declared incident, a note, an assignment, a severity
//! change or an acknowledgement may say (checked once, at the edge), what each records (the
//! timeline entry, the audit payload, the incident's new fields), and how long each phase of an
//! incident took. Pure decisions: the store applies them inside one transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    DomainError, Incident, Severity, Status, TimelineEntry, TimelineKind,
    audit::AuditKind,
    grouping::{Entry, IllegalTransition, transition_entry},
    redact_secrets,
};

/// A title: one line without control characters, not blank, at most [`MAX_TITLE`] characters.
pub const TITLE_PATTERN: &str = concat!(
    r"^[^\u0000-\u001F\u007F-\u009F]*",
    r"[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]",
    r"[^\u0000-\u001F\u007F-\u009F]*$"
);
/// A note or reason: lines (tab, line feed and carriage return allowed, no other control
/// characters), not blank.
pub const TEXT_PATTERN: &str = concat!(
    r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*",
    r"[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]",
    r"[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
);
/// A person's name or handle: letters, digits, `._@:+-` and inner spaces, 1-64 characters,
/// starting with a letter or digit (`alice`, `alice@example.com`, `Jane Doe`).
pub const PERSON_PATTERN: &str = r"^[A-Za-z0-9]([A-Za-z0-9 ._@:+-]{0,62}[A-Za-z0-9._@:+-])?$";
/// An entity: `kind/name` or `kind/namespace/name` (`pod/shop/web-1`, `ip/203.0.113.9`,
/// `user/alice@example.com`, `ip/10.0.0.0/24`).
pub const ENTITY_PATTERN: &str = r"^[a-z][a-z0-9_-]{0,31}(/[A-Za-z0-9._:@-]{1,253}){1,2}$";

/// Longest title.
pub const MAX_TITLE: usize = 200;
/// Longest note, reason or acknowledgement note.
pub const MAX_TEXT: usize = 2000;
/// Most entities of a declared incident.
pub const MAX_ENTITIES: usize = 20;

fn visible(c: char) -> bool {
    !c.is_control() && !c.is_whitespace()
}

/// A title as [`TITLE_PATTERN`] says, secret-looking values redacted.
pub fn title(field: &str, s: &str) -> Result<String, DomainError> {
    let n = s.chars().count();
    if n > MAX_TITLE {
        return Err(DomainError::invalid(
            field,
            format!("{n} characters; at most {MAX_TITLE}"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            "must be one line without control characters",
        ));
    }
    if !s.chars().any(visible) {
        return Err(DomainError::invalid(field, "must not be blank"));
    }
    Ok(redact_secrets(s))
}

/// A note or reason as [`TEXT_PATTERN`] says, secret-looking values redacted.
pub fn text(field: &str, s: &str) -> Result<String, DomainError> {
    let n = s.chars().count();
    if n > MAX_TEXT {
        return Err(DomainError::invalid(
            field,
            format!("{n} characters; at most {MAX_TEXT}"),
        ));
    }
    if s.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return Err(DomainError::invalid(
            field,
            "must not contain control characters (tab and line breaks are fine)",
        ));
    }
    if !s.chars().any(visible) {
        return Err(DomainError::invalid(field, "must not be blank"));
    }
    Ok(redact_secrets(s))
}

/// A person's name as [`PERSON_PATTERN`] says.
pub fn person(field: &str, s: &str) -> Result<String, DomainError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "._@:+-".contains(c);
    let n = s.chars().count();
    let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let last_ok = s.chars().last().is_some_and(ok_char);
    if !(1..=64).contains(&n) || !first_ok || !last_ok || !s.chars().all(|c| ok_char(c) || c == ' ') {
        return Err(DomainError::invalid(
            field,
            format!(
                "`{}` is not a name: 1-64 letters, digits, spaces and ._@:+- , starting with a letter or digit \
                 (e.g. alice, alice@example.com)",
                super::clip(s, 40)
            ),
        ));
    }
    Ok(s.to_owned())
}

/// An entity as [`ENTITY_PATTERN`] says.
pub fn entity(field: &str, s: &str) -> Result<String, DomainError> {
    let bad = || {
        DomainError::invalid(
            field,
            format!(
                "`{}` is not an entity: kind/name or kind/namespace/name, e.g. pod/shop/web-1, ip/203.0.113.9, \
                 service/checkout (kind: lowercase letters, digits, _ -; names: letters, digits, . _ : @ -)",
                super::clip(s, 60)
            ),
        )
    };
    let mut parts = s.split('/');
    let kind = parts.next().unwrap_or_default();
    let names: Vec<&str> = parts.collect();
    let kind_ok = (1..=32).contains(&kind.len())
        && kind.starts_with(|c: char| c.is_ascii_lowercase())
        && kind
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    let names_ok = (1..=2).contains(&names.len())
        && names.iter().all(|n| {
            (1..=253).contains(&n.len()) && n.chars().all(|c| c.is_ascii_alphanumeric() || "._:@-".contains(c))
        });
    if kind_ok && names_ok {
        Ok(s.to_owned())
    } else {
        Err(bad())
    }
}

/// The entities of a declared incident: each as [`entity`] says, at most [`MAX_ENTITIES`],
/// repeats dropped (first kept).
pub fn entities(list: &[String]) -> Result<Vec<String>, DomainError> {
    if list.len() > MAX_ENTITIES {
        return Err(DomainError::invalid(
            "entities",
            format!("{} entities; at most {MAX_ENTITIES}", list.len()),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        let e = entity(&format!("entities[{i}]"), e)?;
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

/// A change a person makes to an incident.
#[derive(Debug, Clone, PartialEq)]
pub enum ManageOp {
    /// A note for the timeline.
    Note(String),
    /// A new owner and/or incident commander (at least one).
    Assign {
        owner: Option<String>,
        commander: Option<String>,
    },
    /// A new severity, and why.
    Severity { to: Severity, reason: String },
    /// Someone is on it: allowed at any active status.
    Acknowledge { note: Option<String> },
}

/// The incident's fields a decision sets (all of them, changed or not).
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedFields {
    pub owner: Option<String>,
    pub commander: Option<String>,
    pub severity: Severity,
    pub status: Status,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
}

/// What a [`ManageOp`] does to an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct ManageDecision {
    /// False for a repeat that changes nothing (then nothing is written).
    pub changed: bool,
    pub fields: ManagedFields,
    /// Timeline entries to write.
    pub entries: Vec<Entry>,
    /// The audit entry's kind (`note`, `assignment`, `severity`, `acknowledgement`) and payload.
    pub audit: (AuditKind, Value),
    /// What happened, for the caller.
    pub message: String,
    /// The status before, when the decision moves it.
    pub moved_from: Option<Status>,
}

fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// What `op` by `actor` does to `i` at `now`. Acknowledging a resolved incident is refused.
pub fn decide(
    i: &Incident,
    actor: &str,
    op: &ManageOp,
    now: DateTime<Utc>,
) -> Result<ManageDecision, IllegalTransition> {
    let mut fields = ManagedFields {
        owner: i.owner.clone(),
        commander: i.commander.clone(),
        severity: i.severity,
        status: i.status,
        acknowledged_at: i.acknowledged_at,
        acknowledged_by: i.acknowledged_by.clone(),
    };
    let id = i.id;
    let unchanged = |fields: ManagedFields, audit: (AuditKind, Value), message: String| ManageDecision {
        changed: false,
        fields,
        entries: Vec::new(),
        audit,
        message,
        moved_from: None,
    };
    Ok(match op {
        ManageOp::Note(text) => ManageDecision {
            changed: true,
            fields,
            entries: vec![(TimelineKind::Note, text.clone(), BTreeMap::new())],
            audit: (AuditKind::Note, json!({"env": i.env, "note": text})),
            message: format!("note added to {id}"),
            moved_from: None,
        },
        ManageOp::Assign { owner, commander } => {
            let mut parts = Vec::new();
            let mut d = BTreeMap::new();
            for (role, new, old) in [
                ("owner", owner, &mut fields.owner),
                ("commander", commander, &mut fields.commander),
            ] {
                if let Some(n) = new
                    && old.as_deref() != Some(n.as_str())
                {
                    match old.as_deref() {
                        Some(o) => parts.push(format!("{role} {n} (was {o})")),
                        None => parts.push(format!("{role} {n}")),
                    }
                    d.insert(role.to_string(), n.clone());
                    if let Some(o) = old.as_deref() {
                        d.insert(format!("previous_{role}"), o.to_owned());
                    }
                    *old = Some(n.clone());
                }
            }
            let audit = (
                AuditKind::Assignment,
                json!({"env": i.env, "owner": fields.owner, "commander": fields.commander,
                       "previous_owner": i.owner, "previous_commander": i.commander}),
            );
            if parts.is_empty() {
                return Ok(unchanged(
                    fields,
                    audit,
                    format!("{id} already has that assignment; nothing changed"),
                ));
            }
            let what = parts.join(", ");
            ManageDecision {
                changed: true,
                fields,
                entries: vec![(TimelineKind::Assignment, format!("assigned: {what}"), d)],
                audit,
                message: format!("{id} assigned: {what}"),
                moved_from: None,
            }
        }
        ManageOp::Severity { to, reason } => {
            let from = i.severity;
            let audit = (
                AuditKind::Severity,
                json!({"env": i.env, "from": from, "to": to, "reason": reason}),
            );
            if from == *to {
                return Ok(unchanged(
                    fields,
                    audit,
                    format!("{id} is already {to}; nothing changed"),
                ));
            }
            fields.severity = *to;
            ManageDecision {
                changed: true,
                fields,
                entries: vec![(
                    TimelineKind::SeverityChange,
                    format!("severity {from} → {to}: {reason}"),
                    data(&[("from", from.as_str()), ("to", to.as_str()), ("reason", reason)]),
                )],
                audit,
                message: format!("{id} severity changed from {from} to {to}"),
                moved_from: None,
            }
        }
        ManageOp::Acknowledge { note } => {
            let from = i.status;
            let audit_payload = json!({"env": i.env, "status": from, "note": note});
            if from == Status::Resolved {
                return Err(IllegalTransition {
                    id,
                    from,
                    to: Status::Acknowledged,
                    allowed: "any active status: open, acknowledged, contained, recovered".into(),
                });
            }
            // An open incident always moves (it may have reopened after an earlier acknowledgement).
            let already = from == Status::Acknowledged || (from != Status::Open && i.acknowledged_at.is_some());
            if already {
                let by = match (&i.acknowledged_by, i.acknowledged_at) {
                    (Some(b), Some(t)) => format!(" by {b} at {}", super::display_time(&t)),
                    _ => String::new(),
                };
                return Ok(unchanged(
                    fields,
                    (AuditKind::Acknowledgement, audit_payload),
                    format!("{id} was already acknowledged{by}; nothing changed"),
                ));
            }
            // The first acknowledgement is kept (time to acknowledge is measured to it).
            if fields.acknowledged_at.is_none() {
                fields.acknowledged_at = Some(now);
                fields.acknowledged_by = Some(actor.to_owned());
            }
            let (entries, message, moved_from) = if from == Status::Open {
                fields.status = Status::Acknowledged;
                let (m, d) = transition_entry(from, Status::Acknowledged, note.as_deref());
                (
                    vec![(TimelineKind::StatusChange, m, d)],
                    format!("{id} moved from open to acknowledged"),
                    Some(from),
                )
            } else {
                let mut m = format!("acknowledged (status stays {from})");
                let mut d = data(&[("status", from.as_str())]);
                if let Some(n) = note {
                    m = format!("{m}: {n}");
                    d.insert("note".into(), n.clone());
                }
                (
                    vec![(TimelineKind::Acknowledged, m, d)],
                    format!("{id} acknowledged; its status stays {from}"),
                    None,
                )
            };
            ManageDecision {
                changed: true,
                fields,
                entries,
                audit: (AuditKind::Acknowledgement, audit_payload),
                message,
                moved_from,
            }
        }
    })
}

/// One phase of an incident and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Phase {
    /// time_to_detect, time_to_acknowledge, time_to_contain, time_to_recover, time_to_resolve.
    pub name: String,
    /// What the phase is measured between, in words.
    pub between: String,
    /// When it started.
    pub from: DateTime<Utc>,
    /// When it ended; absent when the incident never got there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    /// Its length in whole seconds; absent when not reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<i64>,
    /// Its length for people (`1h 05m`), or `not reached`.
    pub duration: String,
}

/// `90` → `1m 30s`, `3720` → `1h 02m`, `90000` → `1d 01h`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// When the timeline first records a move to `to`.
fn first_move(timeline: &[TimelineEntry], to: Status) -> Option<DateTime<Utc>> {
    timeline
        .iter()
        .find(|e| e.kind == TimelineKind::StatusChange && e.data.get("to").map(String::as_str) == Some(to.as_str()))
        .map(|e| e.at)
}

/// How long each phase of `i` took, from its record and its timeline (oldest first): detect
/// (first signal → incident opened), then acknowledge, contain, recover and resolve, each
/// measured from when the incident was opened (resolve: to its latest resolution).
pub fn phases(i: &Incident, timeline: &[TimelineEntry]) -> Vec<Phase> {
    let opened = i.created_at;
    let acknowledged = i.acknowledged_at.or_else(|| first_move(timeline, Status::Acknowledged));
    let resolved = match i.status {
        Status::Resolved => timeline
            .iter()
            .rev()
            .find(|e| e.kind == TimelineKind::StatusChange && e.data.get("to").map(String::as_str) == Some("resolved"))
            .map(|e| e.at),
        _ => None,
    };
    let phase = |name: &str, between: &str, from: DateTime<Utc>, to: Option<DateTime<Utc>>| {
        let seconds = to.map(|t| (t - from).num_seconds().max(0));
        Phase {
            name: name.into(),
            between: between.into(),
            from,
            to,
            seconds,
            duration: seconds.map_or_else(|| "not reached".into(), human_duration),
        }
    };
    vec![
        phase(
            "time_to_detect",
            "first signal → incident opened",
            i.first_seen.min(opened),
            Some(opened),
        ),
        phase(
            "time_to_acknowledge",
            "incident opened → acknowledged",
            opened,
            acknowledged,
        ),
        phase(
            "time_to_contain",
            "incident opened → first containment applied",
            opened,
            first_move(timeline, Status::Contained),
        ),
        phase(
            "time_to_recover",
            "incident opened → recovered",
            opened,
            first_move(timeline, Status::Recovered),
        ),
        phase("time_to_resolve", "incident opened → resolved", opened, resolved),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{IncidentId, IncidentType};

    fn incident(status: Status) -> Incident {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Incident {
            id: IncidentId::from_row(7),
            title: "t".into(),
            kind: IncidentType::Other,
            env: "dev".into(),
            severity: Severity::Medium,
            status,
            fingerprint: "f".into(),
            first_seen: t - chrono::TimeDelta::seconds(30),
            last_seen: t,
            signal_count: 1,
            labels: BTreeMap::new(),
            created_at: t,
            updated_at: t,
            previous_id: None,
            owner: None,
            commander: None,
            acknowledged_at: None,
            acknowledged_by: None,
        }
    }

    #[test]
    fn text_rules_match_their_patterns() {
        let re = |p: &str| regex::Regex::new(p).unwrap();
        let (title_re, text_re, person_re, entity_re) = (
            re(TITLE_PATTERN),
            re(TEXT_PATTERN),
            re(PERSON_PATTERN),
            re(ENTITY_PATTERN),
        );
        for s in [
            "Checkout down",
            " x ",
            "é",
            "a\u{a0}b",
            "line\nbreak",
            "",
            " \t",
            "\u{2003}",
            "a\u{7}b",
            "\u{85}",
        ] {
            assert_eq!(title("t", s).is_ok(), title_re.is_match(s), "title {s:?}");
            assert_eq!(text("t", s).is_ok(), text_re.is_match(s), "text {s:?}");
        }
        for s in [
            "alice",
            "alice@example.com",
            "Jane Doe",
            "human:alice",
            " alice",
            "alice ",
            "",
            "a<b>",
            "é",
        ] {
            assert_eq!(person("p", s).is_ok(), person_re.is_match(s), "person {s:?}");
        }
        for s in [
            "pod/shop/web-1",
            "ip/203.0.113.9",
            "ip/10.0.0.0/24",
            "user/alice@example.com",
            "Pod/x",
            "pod",
            "pod/",
            "pod/a/b/c",
            "pod/a b",
            "pod/<script>",
        ] {
            assert_eq!(entity("e", s).is_ok(), entity_re.is_match(s), "entity {s:?}");
        }
        assert_eq!(text("n", "rotated token: abc").unwrap(), "rotated token: [REDACTED]");
        assert!(title("t", &"x".repeat(201)).is_err());
        assert_eq!(entities(&["ip/1.2.3.4".into(), "ip/1.2.3.4".into()]).unwrap().len(), 1);
        assert_eq!(
            entities(&["pod/x".into(), "bad".into()]).unwrap_err().field,
            "entities[1]"
        );
    }

    #[test]
    fn acknowledging_works_at_any_active_status_once() {
        let now = Utc::now();
        let ack = ManageOp::Acknowledge {
            note: Some("on it".into()),
        };
        let d = decide(&incident(Status::Open), "cli", &ack, now).unwrap();
        assert_eq!(
            (d.changed, d.fields.status, d.moved_from),
            (true, Status::Acknowledged, Some(Status::Open))
        );
        let d = decide(&incident(Status::Contained), "cli", &ack, now).unwrap();
        assert_eq!(
            (d.changed, d.fields.status, d.moved_from),
            (true, Status::Contained, None)
        );
        assert_eq!(d.entries[0].0, TimelineKind::Acknowledged);
        assert_eq!(d.fields.acknowledged_by.as_deref(), Some("cli"));
        let mut acked = incident(Status::Recovered);
        acked.acknowledged_at = Some(now);
        acked.acknowledged_by = Some("rest".into());
        let d = decide(&acked, "cli", &ack, now).unwrap();
        assert!(
            !d.changed && d.message.contains("already acknowledged by rest"),
            "{}",
            d.message
        );
        let e = decide(&incident(Status::Resolved), "cli", &ack, now).unwrap_err();
        assert!(e.allowed.contains("contained"));
        // Reopened after an earlier acknowledgement: it moves again, the first one is kept.
        let mut reopened = incident(Status::Open);
        reopened.acknowledged_at = Some(now - chrono::TimeDelta::hours(1));
        reopened.acknowledged_by = Some("rest".into());
        let d = decide(&reopened, "cli", &ack, now).unwrap();
        assert_eq!((d.changed, d.fields.status), (true, Status::Acknowledged));
        assert_eq!(d.fields.acknowledged_by.as_deref(), Some("rest"));
    }

    #[test]
    fn assignments_and_severity_changes_record_what_changed() {
        let now = Utc::now();
        let mut i = incident(Status::Open);
        i.owner = Some("bob".into());
        let op = ManageOp::Assign {
            owner: Some("alice".into()),
            commander: Some("carol".into()),
        };
        let d = decide(&i, "cli", &op, now).unwrap();
        assert_eq!(d.message, "INC-000007 assigned: owner alice (was bob), commander carol");
        assert_eq!(d.entries[0].2["previous_owner"], "bob");
        i.owner = Some("alice".into());
        i.commander = Some("carol".into());
        assert!(!decide(&i, "cli", &op, now).unwrap().changed);
        let sev = ManageOp::Severity {
            to: Severity::Critical,
            reason: "checkout is down".into(),
        };
        let d = decide(&i, "cli", &sev, now).unwrap();
        assert_eq!(d.fields.severity, Severity::Critical);
        assert_eq!(d.entries[0].1, "severity medium → critical: checkout is down");
        i.severity = Severity::Critical;
        assert!(!decide(&i, "cli", &sev, now).unwrap().changed);
    }

    #[test]
    fn phases_are_measured_from_the_timeline() {
        let mut i = incident(Status::Resolved);
        let t0 = i.created_at;
        let at = |s: i64| t0 + chrono::TimeDelta::seconds(s);
        let mv = |s: i64, to: &str| TimelineEntry {
            at: at(s),
            kind: TimelineKind::StatusChange,
            actor: "x".into(),
            message: String::new(),
            data: data(&[("to", to)]),
        };
        i.acknowledged_at = Some(at(60));
        let tl = vec![
            mv(60, "acknowledged"),
            mv(300, "contained"),
            mv(4000, "recovered"),
            mv(90_000, "resolved"),
        ];
        let p = phases(&i, &tl);
        let secs: Vec<Option<i64>> = p.iter().map(|p| p.seconds).collect();
        assert_eq!(secs, [Some(30), Some(60), Some(300), Some(4000), Some(90_000)]);
        let shown: Vec<&str> = p.iter().map(|p| p.duration.as_str()).collect();
        assert_eq!(shown, ["30s", "1m 00s", "5m 00s", "1h 06m", "1d 01h"]);
        i.status = Status::Open;
        i.acknowledged_at = None;
        let p = phases(&i, &[]);
        assert_eq!(p[1].duration, "not reached");
        assert!(p[4].to.is_none());
    }
}
