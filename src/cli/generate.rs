//! `completions bash|zsh|fish` and `man`: generated from the command line's own definitions,
//! so they cannot drift from what the binary accepts.

use clap::{Args, ValueEnum};

use super::failure::{Failure, backend};

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

/// Prints the completion script of `cli` (the whole command line) for `a.shell` on stdout.
pub fn completions(a: &CompletionsArgs, mut cli: clap::Command) -> Result<(), Failure> {
    let shell = match a.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut cli, "incident-mcp", &mut std::io::stdout());
    Ok(())
}

/// Prints the man page (roff, section 1) of `cli` on stdout.
pub fn man(cli: clap::Command) -> Result<(), Failure> {
    clap_mangen::Man::new(cli)
        .render(&mut std::io::stdout())
        .map_err(backend)
}
