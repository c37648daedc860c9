//! What fills in what a request leaves out: the default environment, and "the current incident"
//! for a recovery or notification that names none.

use super::{IncidentService, ServiceError};
use crate::{
    domain::{DomainError, Env, Incident, Status},
    store::IncidentFilter,
};

/// Incidents looked at when choosing the current one.
const CURRENT_SCAN: u32 = 200;

impl IncidentService {
    /// `env`, else the configured default (`default_env`, or the only environment).
    pub fn env_or_default(&self, env: Option<&Env>) -> Result<Env, ServiceError> {
        Ok(self.config.resolve_env(env)?)
    }

    /// The incident a request without an id is about: the most recently changed `contained`
    /// incident (a containment is in place: it is the one to recover), else the most recently
    /// changed incident that is not resolved or recovered, in any environment.
    pub async fn current_incident(&self, what: &str) -> Result<Incident, ServiceError> {
        let contained = IncidentFilter {
            status: Some(Status::Contained),
            limit: 1,
            ..Default::default()
        };
        if let Some(i) = self.store.list_incidents(&contained).await?.into_iter().next() {
            return Ok(i);
        }
        let recent = IncidentFilter {
            limit: CURRENT_SCAN,
            ..Default::default()
        };
        let recent = self.store.list_incidents(&recent).await?;
        let pick = recent
            .into_iter()
            .find(|i| !matches!(i.status, Status::Resolved | Status::Recovered));
        pick.ok_or_else(|| {
            DomainError::invalid(
                "id",
                format!("no open incident to {what}; name one with its id (e.g. 123 or INC-000123)"),
            )
            .into()
        })
    }
}
