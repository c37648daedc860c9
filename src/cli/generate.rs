//! `completions bash|zsh|fish` and `man`: generated from the command line's own definitions,
//! so they cannot drift from what the binary accepts.

use clap::{Args, CommandFactory, ValueEnum};

use super::{
    command::Cli,
    failure::{Failure, backend},
};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completion script for `a.shell` on stdout.
pub fn completions(a: &CompletionsArgs) -> Result<(), Failure> {
    let shell = match a.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut Cli::command(), "incident-mcp", &mut std::io::stdout());
    Ok(())
}

/// Prints the man page (roff, section 1) on stdout.
pub fn man() -> Result<(), Failure> {
    clap_mangen::Man::new(Cli::command())
        .render(&mut std::io::stdout())
        .map_err(backend)
}
