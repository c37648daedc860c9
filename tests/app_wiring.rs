//! The process is wired in one place (`app`): the service it builds over a real SQLite file has
//! its notifier and clock and the config's backends; a bare service has no notifier and says so
//! instead of building one from the process environment behind the caller's back.

use std::sync::Arc;

use incident_mcp::{
    IncidentService,
    app::{self, Environment},
    config::Config,
    store::{StoreLocation, open},
};

#[tokio::test]
async fn the_wired_service_delivers_and_a_bare_one_refuses_to() {
    let dir = tempfile::tempdir().unwrap();
    let location = StoreLocation::parse(&dir.path().join("incidents.db"));
    let wired = app::open(&location, Config::builtin()).await.unwrap();
    let report = wired.dispatcher().unwrap().drain().await.unwrap();
    assert_eq!(report.attempted, 0, "an empty outbox: nothing to deliver");

    let store = open(&location).await.unwrap();
    let bare = IncidentService::new(store.clone(), Arc::new(Config::builtin()));
    let Err(e) = bare.dispatcher() else {
        panic!("a bare service has no notifier");
    };
    assert_eq!(
        e.to_string(),
        "backend failed: no notifier is wired into this process; notifications stay queued"
    );
    assert!(
        app::assemble(store, Config::builtin(), Environment::process())
            .unwrap()
            .dispatcher()
            .is_ok()
    );
}
