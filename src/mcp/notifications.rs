//! Resource change notifications: legacy `resources/subscribe` sessions (≤ 2025-11-25)
//! and `subscriptions/listen` streams (2026-07-28), both fed by the service's events.

use std::{collections::HashSet, sync::Arc};

use rmcp::{
    Peer, RoleServer,
    model::ResourceUpdatedNotificationParam,
    service::{SubscriptionContext, SubscriptionSendError},
};
use tokio::sync::{Mutex, broadcast::error::RecvError};
use tokio_util::sync::CancellationToken;

use super::resources::{INCIDENTS_URI, incident_uri};
use crate::service::{IncidentEvent, IncidentService};

/// URIs changed by an event.
fn uris(e: &IncidentEvent) -> [String; 2] {
    let id = match e {
        IncidentEvent::Created(id) | IncidentEvent::Changed(id) => *id,
    };
    [INCIDENTS_URI.to_owned(), incident_uri(id)]
}

/// Per-session legacy subscriptions and the task forwarding events to that session.
#[derive(Default)]
pub struct LegacySubscriptions {
    uris: Arc<Mutex<HashSet<String>>>,
    forwarder: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl LegacySubscriptions {
    /// Adds `uri` (already validated) unless the session holds `max` others; `Err(held)` then.
    pub async fn subscribe(
        &self,
        uri: String,
        max: usize,
        svc: &IncidentService,
        peer: Peer<RoleServer>,
    ) -> Result<(), usize> {
        {
            let mut uris = self.uris.lock().await;
            if !uris.contains(&uri) && uris.len() >= max {
                return Err(uris.len());
            }
            uris.insert(uri);
        }
        let mut fwd = self.forwarder.lock().await;
        if fwd.as_ref().is_some_and(|h| !h.is_finished()) {
            return Ok(());
        }
        let mut rx = svc.subscribe();
        let subscribed = self.uris.clone();
        *fwd = Some(tokio::spawn(async move {
            loop {
                let event = match rx.recv().await {
                    Ok(e) => e,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                };
                if matches!(event, IncidentEvent::Created(_)) && peer.notify_resource_list_changed().await.is_err() {
                    break;
                }
                let wanted: Vec<String> = {
                    let subs = subscribed.lock().await;
                    uris(&event).into_iter().filter(|u| subs.contains(u)).collect()
                };
                for uri in wanted {
                    if peer
                        .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }));
        Ok(())
    }

    pub async fn unsubscribe(&self, uri: &str) {
        self.uris.lock().await.remove(uri);
    }
}

impl Drop for LegacySubscriptions {
    fn drop(&mut self) {
        if let Some(h) = self.forwarder.get_mut().take() {
            h.abort();
        }
    }
}

/// Serves one `subscriptions/listen` stream until the client cancels it or closes stdin.
pub async fn listen(ctx: SubscriptionContext, svc: &IncidentService, stdin_closed: &CancellationToken) {
    let mut rx = svc.subscribe();
    let sink = ctx.sink().clone();
    loop {
        let event = tokio::select! {
            _ = ctx.cancelled() => return,
            _ = stdin_closed.cancelled() => return,
            e = rx.recv() => match e {
                Ok(e) => e,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
        };
        if matches!(event, IncidentEvent::Created(_))
            && let Err(SubscriptionSendError::SubscriptionClosed | SubscriptionSendError::Service(_)) =
                sink.notify_resource_list_changed().await
        {
            return;
        }
        for uri in uris(&event) {
            // Not-accepted URIs are filtered by the sink; only a closed stream ends the loop.
            if let Err(SubscriptionSendError::SubscriptionClosed | SubscriptionSendError::Service(_)) =
                sink.notify_resource_updated(uri).await
            {
                return;
            }
        }
    }
}
