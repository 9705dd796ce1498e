//! The terminating signals a command ends on as it does on Ctrl-C: not
//! only `SIGINT` but `SIGTERM` (`kill`, `timeout 60 vestis ...`, a CI
//! runner cancelling), `SIGHUP` (a closed terminal, tmux pane or SSH
//! session), `SIGQUIT` (Ctrl-\), and `SIGALRM`, `SIGUSR1`, `SIGUSR2`. Left
//! to their default action they kill the process mid-frame: a spinner
//! stays on the screen, the shell's prompt lands on its line, and no
//! re-attach hint is said. Caught, the command stops cleanly and exits
//! with the conventional 128 + number.

/// A signal that ended the command.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caught {
    /// Its name, such as `SIGTERM`.
    pub(crate) name: &'static str,
    /// Its number (15 for `SIGTERM`): the exit code is 128 + this.
    pub(crate) number: u8,
}

/// Handlers for every terminating signal, installed together.
pub(crate) struct Terminating {
    #[cfg(unix)]
    streams: Vec<(Caught, tokio::signal::unix::Signal)>,
}

impl Terminating {
    /// Installs the handlers: from now on these signals no longer end the
    /// process by themselves.
    ///
    /// # Errors
    ///
    /// When the runtime cannot register a handler (no signal driver).
    pub(crate) fn install() -> std::io::Result<Terminating> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            // Every signal whose default action ends the process and that
            // a process may catch (SIGPIPE aside: Rust ignores it, and a
            // closed stdout is handled where it is written).
            let kinds = [
                ("SIGHUP", SignalKind::hangup()),
                ("SIGINT", SignalKind::interrupt()),
                ("SIGQUIT", SignalKind::quit()),
                ("SIGTERM", SignalKind::terminate()),
                ("SIGALRM", SignalKind::alarm()),
                ("SIGUSR1", SignalKind::user_defined1()),
                ("SIGUSR2", SignalKind::user_defined2()),
            ];
            let mut streams = Vec::with_capacity(kinds.len());
            for (name, kind) in kinds {
                let number = u8::try_from(kind.as_raw_value()).unwrap_or(0);
                streams.push((Caught { name, number }, signal(kind)?));
            }
            Ok(Terminating { streams })
        }
        #[cfg(not(unix))]
        Ok(Terminating {})
    }

    /// Resolves with the first of the signals to arrive.
    pub(crate) async fn recv(self) -> Caught {
        #[cfg(unix)]
        {
            let mut streams = self.streams;
            let arrivals = streams.iter_mut().map(|(caught, stream)| {
                let caught = *caught;
                Box::pin(async move {
                    stream.recv().await;
                    caught
                })
            });
            futures::future::select_all(arrivals).await.0
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Caught {
                name: "SIGINT",
                number: 2,
            }
        }
    }
}
