//! Forwards service progress steps as `notifications/progress` for the request's progress token.

use rmcp::{
    Peer, RoleServer,
    model::{ProgressNotificationParam, ProgressToken},
};
use tokio::sync::mpsc;

use crate::service::Progress;

/// Queues steps in order; `finish` sends the rest before the result goes out.
pub struct ProgressForwarder {
    tx: mpsc::UnboundedSender<(u64, u64, String)>,
    task: tokio::task::JoinHandle<()>,
}

impl ProgressForwarder {
    pub fn new(peer: Peer<RoleServer>, token: ProgressToken) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<(u64, u64, String)>();
        let task = tokio::spawn(async move {
            while let Some((done, total, message)) = rx.recv().await {
                let param = ProgressNotificationParam::new(token.clone(), done as f64)
                    .with_total(total as f64)
                    .with_message(message);
                if let Err(e) = peer.notify_progress(param).await {
                    tracing::debug!(error = %e, "progress notification not delivered");
                    return;
                }
            }
        });
        Self { tx, task }
    }

    /// Waits until every queued step has been sent (progress must precede the response).
    pub async fn finish(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

impl Progress for ProgressForwarder {
    fn step(&self, done: u64, total: u64, message: &str) {
        let _ = self.tx.send((done, total, message.to_owned()));
    }
}
