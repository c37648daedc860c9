//! Progress of long use-cases, reported to whoever watches: an MCP client (progress
//! notifications) or a terminal (a progress bar). No protocol types here.

/// Receives progress steps: `done` of `total` steps, with a short human message.
/// `done` never decreases within one call.
pub trait Progress: Send + Sync {
    fn step(&self, done: u64, total: u64, message: &str);
}

impl<F: Fn(u64, u64, &str) + Send + Sync> Progress for F {
    fn step(&self, done: u64, total: u64, message: &str) {
        self(done, total, message)
    }
}

/// Reports nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn step(&self, _: u64, _: u64, _: &str) {}
}
