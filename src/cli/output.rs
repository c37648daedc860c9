//! How commands print results: `--format json|table` (default: table on a terminal, JSON
//! otherwise), every printed value also logged at debug level as `cli output`.

use std::io::{IsTerminal, Write};

use clap::{Args, ValueEnum};

use super::failure::{Failure, backend};

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Json,
    Table,
}

#[derive(Debug, Args)]
pub struct Output {
    /// Output format [default: table on a terminal, json otherwise]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

impl Output {
    /// The format asked for, else table on a terminal and JSON otherwise.
    pub fn resolved(&self) -> Format {
        self.format.unwrap_or(if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Json
        })
    }
}

/// Prints `value` as pretty JSON on stdout (and at debug level in the logs).
pub(crate) fn print_json<T: serde::Serialize>(value: &T) {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    tracing::debug!(output = ?text, "cli output");
    println!("{text}");
}

/// Prints `value` in the format `out` asks for; `table` renders it for people.
pub(crate) fn emit<T: serde::Serialize>(out: &Output, value: &T, table: fn(&T) -> String) -> Result<(), Failure> {
    let text = match out.resolved() {
        Format::Json => serde_json::to_string_pretty(value).map_err(backend)?,
        Format::Table => table(value),
    };
    tracing::debug!(output = ?text, "cli output");
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}").map_err(backend)
}

/// As [`emit`], with the table text already rendered (for values assembled on the spot).
pub(crate) fn emit_rendered<T: serde::Serialize>(out: &Output, value: &T, table: String) -> Result<(), Failure> {
    let text = match out.resolved() {
        Format::Json => serde_json::to_string_pretty(value).map_err(backend)?,
        Format::Table => table,
    };
    tracing::debug!(output = ?text, "cli output");
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}").map_err(backend)
}
