//! Bounded MCP sessions over streamable HTTP: rmcp's local session manager plus a book of
//! when each session was last used, how many streams it has open, and whether its client sent
//! `notifications/initialized`. At the cap the oldest idle session (no open stream) is closed
//! to admit a new one; when every session is busy the caller answers 503.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Instant,
};

use futures::Stream;
use rmcp::{
    model::{ClientJsonRpcMessage, ClientNotification, ServerJsonRpcMessage},
    transport::streamable_http_server::{
        RestoreOutcome, SessionId, SessionManager,
        session::{
            ServerSseMessage,
            local::{LocalSessionManager, LocalSessionManagerError},
        },
    },
};

#[derive(Debug, Clone)]
struct Entry {
    last_used: Instant,
    open_streams: usize,
    initialized: bool,
}

/// The shared state: rmcp's manager and the book. Cloned into the HTTP gate.
pub struct Sessions {
    local: LocalSessionManager,
    book: Mutex<HashMap<SessionId, Entry>>,
    max: usize,
}

/// Why a new session was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtCapacity {
    pub max: usize,
}

impl Sessions {
    pub fn new(max: usize) -> Arc<Self> {
        crate::metrics::global().sessions_open("http", 0);
        Arc::new(Self {
            local: LocalSessionManager::default(),
            book: Mutex::new(HashMap::new()),
            max: max.max(1),
        })
    }

    fn book(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Entry>> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn touch(&self, id: &SessionId, open: isize) {
        if let Some(e) = self.book().get_mut(id) {
            e.last_used = Instant::now();
            e.open_streams = e.open_streams.saturating_add_signed(open);
        }
    }

    /// Publishes how many sessions are held (`incident_mcp_sessions_open{transport="http"}`).
    fn publish(&self, held: usize) {
        crate::metrics::global().sessions_open("http", held);
    }

    /// Sessions currently held.
    pub fn len(&self) -> usize {
        self.book().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the session's client sent `notifications/initialized` (unknown sessions: true,
    /// rmcp answers those with 404).
    pub fn initialized(&self, id: &str) -> bool {
        self.book().get(id).is_none_or(|e| e.initialized)
    }

    /// Makes room for one more session: below the cap nothing happens; at it the oldest idle
    /// session is closed; when none is idle the new one is refused.
    pub async fn admit(&self) -> Result<(), AtCapacity> {
        let alive: Vec<SessionId> = self.local.sessions.read().await.keys().cloned().collect();
        let victim = {
            let mut book = self.book();
            book.retain(|id, _| alive.contains(id));
            self.publish(book.len());
            if book.len() < self.max {
                return Ok(());
            }
            book.iter()
                .filter(|(_, e)| e.open_streams == 0)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(id, _)| id.clone())
        };
        let Some(victim) = victim else {
            return Err(AtCapacity { max: self.max });
        };
        tracing::info!(session = %victim, max = self.max, "closing the oldest idle MCP session to admit a new one");
        let held = {
            let mut book = self.book();
            book.remove(&victim);
            book.len()
        };
        self.publish(held);
        if let Err(e) = self.local.close_session(&victim).await {
            tracing::warn!(session = %victim, error = %e, "closing an evicted session failed");
        }
        Ok(())
    }
}

/// The [`SessionManager`] rmcp is given: delegates to the local manager, keeping the book.
#[derive(Clone)]
pub struct BoundedSessions(pub Arc<Sessions>);

/// A stream counted as open in the book until dropped.
struct Tracked {
    inner: Pin<Box<dyn Stream<Item = ServerSseMessage> + Send + Sync>>,
    sessions: Arc<Sessions>,
    id: SessionId,
}

impl Stream for Tracked {
    type Item = ServerSseMessage;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.sessions.touch(&self.id, -1);
    }
}

impl BoundedSessions {
    fn track(&self, id: &SessionId, s: impl Stream<Item = ServerSseMessage> + Send + Sync + 'static) -> Tracked {
        self.0.touch(id, 1);
        Tracked {
            inner: Box::pin(s),
            sessions: self.0.clone(),
            id: id.clone(),
        }
    }
}

impl SessionManager for BoundedSessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (id, transport) = self.0.local.create_session().await?;
        let entry = Entry {
            last_used: Instant::now(),
            open_streams: 0,
            initialized: false,
        };
        let held = {
            let mut book = self.0.book();
            book.insert(id.clone(), entry);
            book.len()
        };
        self.0.publish(held);
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.0.touch(id, 0);
        self.0.local.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.0.local.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let held = {
            let mut book = self.0.book();
            book.remove(id);
            book.len()
        };
        self.0.publish(held);
        self.0.local.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let s = self.0.local.create_stream(id, message).await?;
        Ok(self.track(id, s))
    }

    async fn accept_message(&self, id: &SessionId, message: ClientJsonRpcMessage) -> Result<(), Self::Error> {
        let initialized = matches!(
            &message,
            ClientJsonRpcMessage::Notification(n)
                if matches!(n.notification, ClientNotification::InitializedNotification(_))
        );
        if let Some(e) = self.0.book().get_mut(id) {
            e.last_used = Instant::now();
            e.initialized |= initialized;
        }
        self.0.local.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let s = self.0.local.create_standalone_stream(id).await?;
        Ok(self.track(id, s))
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let s = self.0.local.resume(id, last_event_id).await?;
        Ok(self.track(id, s))
    }

    async fn restore_session(&self, id: SessionId) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.0.local.restore_session(id).await
    }
}
