//! Resource change notifications when incidents are created or change:
//! `resources/subscribe` for 2025-11-25 clients, `subscriptions/listen` for 2026-07-28 clients.
#![allow(deprecated)] // resources/subscribe is legacy-only, which is what these tests exercise

use crate::common;

use std::time::Duration;

use common::*;
use incident_mcp::mcp::ToolPolicy;
use rmcp::{
    ClientHandler, RoleClient,
    model::{
        ClientConfig, ResourceUpdatedNotificationParam, ServerNotification, SubscribeRequestParams, SubscriptionFilter,
    },
    service::NotificationContext,
};
use serde_json::json;
use tokio::sync::mpsc;

/// Upper bound for a notification to arrive; the test fails (not passes) when it runs out.
const WITHIN: Duration = Duration::from_secs(10);

#[derive(Debug, PartialEq)]
enum Seen {
    ListChanged,
    Updated(String),
}

struct Recorder(mpsc::UnboundedSender<Seen>);

impl ClientHandler for Recorder {
    fn get_info(&self) -> ClientConfig {
        legacy_client()
    }
    async fn on_resource_updated(&self, p: ResourceUpdatedNotificationParam, _c: NotificationContext<RoleClient>) {
        let _ = self.0.send(Seen::Updated(p.uri));
    }
    async fn on_resource_list_changed(&self, _c: NotificationContext<RoleClient>) {
        let _ = self.0.send(Seen::ListChanged);
    }
}

async fn expect(rx: &mut mpsc::UnboundedReceiver<Seen>, want: Seen) {
    loop {
        let got = tokio::time::timeout(WITHIN, rx.recv())
            .await
            .expect("notification in time")
            .expect("channel open");
        if got == want {
            return;
        }
    }
}

async fn legacy_flow(
    client: rmcp::service::RunningService<RoleClient, Recorder>,
    mut rx: mpsc::UnboundedReceiver<Seen>,
) {
    client
        .subscribe(SubscribeRequestParams::new("incident://incidents"))
        .await
        .expect("subscribe");
    ok(&call(&client, "incident_detect", json!({ "env": "dev" })).await);
    expect(&mut rx, Seen::ListChanged).await;
    expect(&mut rx, Seen::Updated("incident://incidents".into())).await;

    client
        .subscribe(SubscribeRequestParams::new("incident://incidents/INC-000002"))
        .await
        .expect("subscribe one");
    ok(&call(&client, "incident_ack", json!({ "id": "INC-000002" })).await);
    expect(&mut rx, Seen::Updated("incident://incidents/INC-000002".into())).await;

    // After unsubscribing from the list, only the per-incident subscription remains.
    client
        .unsubscribe(rmcp::model::UnsubscribeRequestParams::new("incident://incidents"))
        .await
        .expect("unsubscribe");
    ok(&call(
        &client,
        "incident_resolve",
        json!({ "id": "INC-000002", "note": "blocked at the edge" }),
    )
    .await);
    let got = tokio::time::timeout(WITHIN, rx.recv())
        .await
        .expect("notification in time")
        .expect("open");
    assert_eq!(got, Seen::Updated("incident://incidents/INC-000002".into()));
    client.cancel().await.expect("shutdown");
}

#[tokio::test]
async fn legacy_subscriptions_over_duplex() {
    let h = Harness::new().await;
    let (tx, rx) = mpsc::unbounded_channel();
    legacy_flow(
        h.duplex_client(ToolPolicy::default(), Proto::Legacy, Recorder(tx))
            .await,
        rx,
    )
    .await;
}

#[tokio::test]
async fn legacy_subscriptions_over_http_sessions() {
    let h = Harness::new().await;
    let server = h.http_server(ToolPolicy::default()).await;
    let (tx, rx) = mpsc::unbounded_channel();
    legacy_flow(server.client(None, Proto::Legacy, Recorder(tx)).await, rx).await;
}

async fn listen_flow(client: rmcp::service::RunningService<RoleClient, ClientConfig>) {
    let filter = SubscriptionFilter::builder()
        .resources_list_changed()
        .resource_subscription("incident://incidents")
        .build();
    let mut sub = client.listen(filter.clone()).await.expect("subscriptions/listen");
    assert_eq!(sub.acknowledged(), &filter);
    ok(&call(&client, "incident_detect", json!({ "env": "dev" })).await);
    let mut list_changed = false;
    let mut updated = false;
    while !(list_changed && updated) {
        let n = tokio::time::timeout(WITHIN, sub.next())
            .await
            .expect("in time")
            .expect("stream")
            .expect("open");
        match n {
            ServerNotification::ResourceListChangedNotification(_) => list_changed = true,
            ServerNotification::ResourceUpdatedNotification(u) => {
                assert_eq!(u.params.uri, "incident://incidents", "only accepted URIs are delivered");
                updated = true;
            }
            other => panic!("unexpected notification {other:?}"),
        }
    }
    sub.cancel().await.expect("cancel subscription");
    client.cancel().await.expect("shutdown");
}

#[tokio::test]
async fn listen_streams_for_2026_clients_over_duplex() {
    let h = Harness::new().await;
    listen_flow(
        h.duplex_client(ToolPolicy::default(), Proto::Modern, modern_client())
            .await,
    )
    .await;
}

#[tokio::test]
async fn listen_streams_for_2026_clients_over_http() {
    let h = Harness::new().await;
    let server = h.http_server(ToolPolicy::default()).await;
    listen_flow(server.client(None, Proto::Modern, modern_client()).await).await;
}
