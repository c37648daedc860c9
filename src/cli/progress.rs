//! A progress bar on stderr for long CLI commands, shown only when stderr is a terminal
//! (never in pipes, logs or tests, where it would be noise).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::service::Progress;

pub struct TerminalBar(ProgressBar);

impl TerminalBar {
    /// A bar when stderr is a terminal, else `None`.
    pub fn on_tty() -> Option<Self> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}") {
            bar.set_style(style);
        }
        Some(Self(bar))
    }

    /// Removes the bar so only results remain.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for TerminalBar {
    fn step(&self, done: u64, total: u64, message: &str) {
        self.0.set_length(total);
        self.0.set_position(done);
        self.0.set_message(message.to_owned());
    }
}
