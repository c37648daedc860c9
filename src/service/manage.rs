//! Incident management by people, on every adapter: declare an incident by hand, add a note,
//! assign an owner and an incident commander, change the severity with a reason, acknowledge
//! at any active status. Input is checked here (`domain::manage`), before anything is written;
//! each write commits its timeline entry and audit entry together (`store::ManageStore`).

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::{
    domain::{
        DomainError, Incident, IncidentId, IncidentType, Severity, Signal, SignalKind,
        audit::{AuditKind, NewAuditEntry},
        manage::{self, ManageOp},
        runbook::{LINKS_NOTE, LinkKind, LinkSource, RunbookLink, Runbooks},
        sanitize_untrusted,
    },
    store::{Declaration, ManageWrite, NewFinding},
};

/// Entity of a declared incident's signal when it names none.
pub const DECLARED_ENTITY: &str = "declared/by-hand";

impl IncidentService {
    /// Opens an incident a person declares: its entities become its signals (so analysis and
    /// related incidents see them); it never merges into another incident. Audited as
    /// `declaration`.
    pub async fn declare(&self, req: DeclareRequest, caller: Caller) -> Result<IncidentUpdate, ServiceError> {
        let env = self.env_or_default(req.env.as_ref())?;
        if self.config.env(&env).is_none() {
            return Err(ServiceError::UnknownEnv {
                env: env.to_string(),
                known: self.config.env_names().join(", "),
            });
        }
        let title = manage::title("title", &req.title)?;
        let entities = manage::entities(&req.entities)?;
        let note = req.note.as_deref().map(|n| manage::text("note", n)).transpose()?;
        let kind = req.kind.unwrap_or(IncidentType::Other);
        let severity = req.severity.unwrap_or(Severity::Medium);
        let now = chrono::Utc::now();
        let actor = caller.actor;
        let message = sanitize_untrusted(&format!("declared by {actor}: {title}"));
        let targets = if entities.is_empty() {
            vec![DECLARED_ENTITY.to_owned()]
        } else {
            entities.clone()
        };
        let signals = targets
            .iter()
            .map(|entity| Signal {
                kind: SignalKind::Log,
                source: "declared".into(),
                rule: "declared".into(),
                series: "manual".into(),
                entity: entity.clone(),
                value: 1.0,
                score: 1.0,
                observed_at: now,
                message: Some(message.clone()),
            })
            .collect();
        // Unique: a declaration is a new incident, whatever else is open.
        let nonce = format!(
            "{title}\u{0}{}\u{0}{}",
            now.timestamp_nanos_opt().unwrap_or_default(),
            rand_suffix()
        );
        let finding = NewFinding {
            fingerprint: super::detect::fingerprint(&env, "declared", "manual", &nonce),
            title: title.clone(),
            kind,
            severity,
            labels: BTreeMap::from([("declared_by".to_owned(), actor.to_owned())]),
            signals,
            // Each declared entity is its signal's subject (typed by its `kind/name` prefix).
            entities: Vec::new(),
        };
        let audit = NewAuditEntry::new(
            actor,
            AuditKind::Declaration,
            json!({"env": env.as_str(), "title": title, "type": kind, "severity": severity,
                   "entities": entities, "note": note, "reason": "declared by a person"}),
        );
        let id = self
            .store
            .declare(Declaration {
                env: env.to_string(),
                actor: actor.to_owned(),
                finding,
                note,
                hooks: self.detect_hooks().await?,
                audit,
            })
            .await?;
        self.announce(IncidentEvent::Created(id));
        let incident = self.store.get_incident(id).await?.ok_or(ServiceError::NotFound(id))?;
        Ok(IncidentUpdate {
            message: format!("declared {id} in {env}: {title} [{severity} {kind}]"),
            incident,
            changed: true,
        })
    }

    /// Adds a note to an incident's timeline (any status: notes after resolving are kept for
    /// the post-mortem). Audited as `note`.
    pub async fn note(&self, req: NoteRequest, caller: Caller) -> Result<IncidentUpdate, ServiceError> {
        let note = manage::text("note", &req.note)?;
        self.manage(req.id, caller, ManageOp::Note(note), Vec::new()).await
    }

    /// Assigns the owner and/or the incident commander. Audited as `assignment`.
    pub async fn assign(&self, req: AssignRequest, caller: Caller) -> Result<IncidentUpdate, ServiceError> {
        if req.owner.is_none() && req.commander.is_none() {
            return Err(DomainError::invalid("owner", "name an owner, a commander, or both").into());
        }
        let owner = req.owner.as_deref().map(|o| manage::person("owner", o)).transpose()?;
        let commander = req
            .commander
            .as_deref()
            .map(|c| manage::person("commander", c))
            .transpose()?;
        self.manage(req.id, caller, ManageOp::Assign { owner, commander }, Vec::new())
            .await
    }

    /// Changes the severity, with the reason. Audited as `severity`. Detection may still raise
    /// it later (severity only escalates on new evidence).
    pub async fn set_severity(&self, req: SeverityRequest, caller: Caller) -> Result<IncidentUpdate, ServiceError> {
        let reason = manage::text("reason", &req.reason)?;
        let op = ManageOp::Severity {
            to: req.severity,
            reason,
        };
        self.manage(req.id, caller, op, Vec::new()).await
    }

    /// Acknowledges an incident at any active status: an open one moves to acknowledged; a
    /// contained or recovered one keeps its status and records who acknowledged it. Repeats
    /// change nothing; a resolved incident is refused. Audited as `acknowledgement`.
    pub async fn ack(&self, req: AckRequest, caller: Caller) -> Result<LifecycleResult, ServiceError> {
        let note = match req.note.as_deref() {
            Some(n) if n.chars().count() > manage::MAX_TEXT => {
                return Err(DomainError::invalid("note", "longer than 2000 characters").into());
            }
            // Lenient, as it always was: control characters become spaces.
            Some(n) => {
                let cleaned: String = n
                    .chars()
                    .map(|c| {
                        if c.is_control() && !matches!(c, '\n' | '\t') {
                            ' '
                        } else {
                            c
                        }
                    })
                    .collect();
                Some(crate::domain::redact_secrets(&cleaned)).filter(|n| !n.trim().is_empty())
            }
            None => None,
        };
        let hooks = self
            .lifecycle_rows(
                req.id,
                crate::domain::Status::Acknowledged,
                caller.actor,
                note.as_deref(),
            )
            .await?;
        let out = self
            .store
            .manage(ManageWrite {
                id: req.id,
                actor: caller.actor.to_owned(),
                op: ManageOp::Acknowledge { note },
                outbox: hooks,
            })
            .await?;
        if out.changed {
            self.announce(IncidentEvent::Changed(req.id));
        }
        Ok(LifecycleResult {
            previous_status: out.previous,
            changed: out.changed,
            message: out.message,
            incident: out.incident,
        })
    }

    async fn manage(
        &self,
        id: IncidentId,
        caller: Caller,
        op: ManageOp,
        outbox: Vec<crate::store::NewOutboxRow>,
    ) -> Result<IncidentUpdate, ServiceError> {
        let out = self
            .store
            .manage(ManageWrite {
                id,
                actor: caller.actor.to_owned(),
                op,
                outbox,
            })
            .await?;
        if out.changed {
            self.announce(IncidentEvent::Changed(id));
        }
        Ok(IncidentUpdate {
            incident: out.incident,
            changed: out.changed,
            message: out.message,
        })
    }

    /// The incident's runbooks: configured ones (its rules' `runbook_url`, `[alerts] runbooks`
    /// by alert name) first, then the links and description its alerts carried. Data only.
    pub async fn runbooks(&self, incident: &Incident) -> Result<Runbooks, ServiceError> {
        let annotations = match incident.from_alerts() {
            true => self.store.annotations(incident.id).await?,
            false => Vec::new(),
        };
        self.runbooks_with(incident, annotations).await
    }

    /// [`Self::runbooks`] from annotations already read (`incident_get` reads them with the
    /// incident, on one connection).
    pub async fn runbooks_with(
        &self,
        incident: &Incident,
        annotations: Vec<crate::store::StoredAnnotation>,
    ) -> Result<Runbooks, ServiceError> {
        let env = crate::domain::Env::parse(&incident.env).ok();
        let env_cfg = env.as_ref().and_then(|e| self.config.env(e));
        let configured: BTreeMap<&str, &str> = env_cfg
            .map(|c| {
                c.rules
                    .iter()
                    .filter_map(|r| r.runbook_url.as_deref().map(|u| (r.name.as_str(), u)))
                    .collect()
            })
            .unwrap_or_default();
        let by_alert = &self.config.alerts.runbooks;
        let mut links = Vec::new();
        if !configured.is_empty() || !by_alert.is_empty() {
            for rule in self.store.incident_rules(incident.id).await? {
                for url in [
                    configured.get(rule.as_str()).copied(),
                    by_alert.get(&rule).map(String::as_str),
                ]
                .into_iter()
                .flatten()
                {
                    links.push(RunbookLink {
                        kind: LinkKind::Runbook,
                        url: url.to_owned(),
                        source: LinkSource::Config,
                        rule: rule.clone(),
                    });
                }
            }
        }
        let mut description = None;
        for a in annotations {
            match LinkKind::of(&a.name) {
                Some(kind) => links.push(RunbookLink {
                    kind,
                    url: a.value,
                    source: LinkSource::Alert,
                    rule: a.alertname,
                }),
                None if a.name == "description" => description = Some(a.value),
                None => {}
            }
        }
        Ok(Runbooks {
            links,
            description,
            note: LINKS_NOTE.into(),
        })
    }
}

/// A few bytes that differ between two declarations in the same nanosecond.
fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) ^ u64::from(std::process::id()) << 32
}
