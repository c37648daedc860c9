//! Helpers for the notify tests: a config with `[notify]` appended to the built-in example,
//! a hand-driven clock, and a dispatcher whose secrets come from a map, not the process.
#![allow(dead_code)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};
use incident_mcp::{
    Caller,
    config::{Config, EXAMPLE_TOML},
    domain::{Env, IncidentId},
    notify::{Clock, Dispatcher, HttpNotifier, outbox::RetryPolicy},
    service::DetectRequest,
    store::ports::*,
};

use crate::common::Harness;

pub fn config(notify_toml: &str) -> Config {
    Config::parse_str(&format!("{EXAMPLE_TOML}\n{notify_toml}"), "toml", "test").expect("valid test config")
}

pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// Starts a minute ahead of the real clock, so rows the test queues (stamped with the
    /// real time) are due.
    pub fn new() -> Arc<Self> {
        // Whole seconds: the store keeps microseconds.
        let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 0);
        Arc::new(Self(Mutex::new(now + chrono::Duration::seconds(60))))
    }
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }
    pub fn advance(&self, secs: i64) {
        let mut t = self.0.lock().unwrap();
        *t += chrono::Duration::seconds(secs);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// A dispatcher over the harness store with secrets from `secrets` and a manual clock.
pub fn dispatcher(h: &Harness, secrets: &[(&str, &str)], clock: Arc<ManualClock>) -> Dispatcher {
    let map: HashMap<String, String> = secrets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let cfg = h.svc.config().notify.clone();
    let store: Arc<dyn Store> = h.store.clone();
    let notifier =
        HttpNotifier::new(cfg.clone(), store.clone(), Arc::new(move |k: &str| map.get(k).cloned())).expect("client");
    Dispatcher::new(store, Arc::new(notifier), clock, RetryPolicy::from_config(&cfg))
}

/// Runs detection on the built-in `dev` sample; returns the first incident.
pub async fn first_incident(h: &Harness) -> IncidentId {
    let report = h
        .svc
        .detect(
            DetectRequest {
                env: Some(Env::parse("dev").unwrap()),
                ..Default::default()
            },
            Caller::CLI,
        )
        .await
        .expect("detect");
    report.incidents[0].id
}
