//! `vestis completions SHELL`: a completion script on stdout.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

pub(crate) fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let mut buffer = Vec::new();
    clap_complete::generate(args.shell, &mut command, "vestis", &mut buffer);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &buffer)?;
    Ok(())
}
