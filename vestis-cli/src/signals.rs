//! The terminating signals a command ends on as it does on Ctrl-C: not
//! only `SIGINT` but `SIGTERM` (`kill`, `timeout 60 vestis ...`, a CI
//! runner cancelling), `SIGHUP` (a closed terminal, tmux pane or SSH
//! session) and `SIGQUIT` (Ctrl-\). Left to their default action they
//! kill the process mid-frame: a spinner stays on the screen, the shell's
//! prompt lands on its line, and no re-attach hint is said. Caught, the
//! command stops cleanly and exits with the conventional 128 + number.

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
            let kinds = [
                ("SIGHUP", 1, SignalKind::hangup()),
                ("SIGINT", 2, SignalKind::interrupt()),
                ("SIGQUIT", 3, SignalKind::quit()),
                ("SIGTERM", 15, SignalKind::terminate()),
            ];
            let mut streams = Vec::with_capacity(kinds.len());
            for (name, number, kind) in kinds {
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
