//! `vestis man --dir DIR` (hidden): the man pages, rendered by clap_mangen
//! from the same clap definitions as `--help`, so the two cannot disagree.
//! One page for `vestis` and one per visible subcommand (`vestis-generate.1`,
//! ...), each listing the global flags too. The pages are also committed in
//! `docs/man/` (a test regenerates and compares them).

use std::path::Path;

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::exit::Failure;

pub(crate) fn run(args: &ManArgs) -> anyhow::Result<()> {
    let dir = shown(&args.dir);
    let written = write_pages(&args.dir)
        .map_err(|e| Failure::usage(format!("cannot write man pages to {dir}: {e}")))?;
    let mut stdout = std::io::stdout().lock();
    for name in written {
        std::io::Write::write_all(
            &mut stdout,
            format!("{}\n", shown(&args.dir.join(name))).as_bytes(),
        )?;
    }
    Ok(())
}

/// A path as printed: one line, control characters and bytes that are
/// not UTF-8 escaped, never sent raw to a terminal.
fn shown(path: &Path) -> String {
    crate::safe::path(path)
}

fn write_pages(dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    // `build` propagates the global flags (--api-url, --token, ...) into
    // each subcommand, so every page lists what that command accepts.
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let mut written = vec![render(&command, "vestis", dir)?];
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        let name = format!("vestis-{}", sub.get_name());
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("vestis {}", sub.get_name()));
        written.push(render(&page, &name, dir)?);
    }
    Ok(written)
}

/// Writes one page, `NAME.1`.
fn render(command: &clap::Command, name: &str, dir: &Path) -> std::io::Result<String> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    let file = format!("{name}.1");
    std::fs::write(dir.join(&file), page)?;
    Ok(file)
}
