//! The subcommands, one file each, and the [`Context`] they share: the API
//! URL and token, the journal, the output and the progress mode. Waiting
//! and reporting outcomes live in `crate::waiting`.

pub(crate) mod batch;
pub(crate) mod cancel;
pub(crate) mod completions;
pub(crate) mod generate;
pub(crate) mod history;
pub(crate) mod list;
pub(crate) mod man;
pub(crate) mod mock;
pub(crate) mod resume;
pub(crate) mod show;
pub(crate) mod status;
pub(crate) mod verify;
pub(crate) mod wait;

use std::sync::{Mutex, OnceLock, PoisonError};

use vestis_client::{Client, Error, ListOptions};

use crate::cli::{Global, PreviewFlag};
use crate::commands::mock::MockServer;
use crate::exit::{Failure, wrong_api_url as route_failure};
use crate::journal::{Journal, fingerprint};
use crate::output::Output;
use crate::preview::Preview;
use crate::progress::Mode;

/// What every command works with.
pub(crate) struct Context {
    pub(crate) api_url: String,
    token: Option<String>,
    pub(crate) out: Output,
    pub(crate) mode: Mode,
    /// What Ctrl-C should say: how to pick up where the command stopped.
    interrupt: Mutex<Option<String>>,
    /// Keeps the `--mock` server alive for the command's duration.
    mock: Option<MockServer>,
    /// How finished images are drawn, once a command asked (`--preview`).
    preview: OnceLock<Option<Preview>>,
}

impl Context {
    /// Starts the in-process mock server when `--mock` is given.
    pub(crate) async fn new(global: &Global) -> anyhow::Result<Context> {
        let (api_url, token, mock) = if global.mock() {
            let server = mock::start().await?;
            let token = global
                .token
                .clone()
                .unwrap_or_else(|| "mock-user".to_owned());
            if !global.quiet {
                crate::say(&format!(
                    "Using the bundled mock server at {} (it stops when this command ends)",
                    server.api_url()
                ));
            }
            (server.api_url(), Some(token), Some(server))
        } else {
            (
                global.api_url.trim_end_matches('/').to_owned(),
                global.token.clone().filter(|t| !t.is_empty()),
                None,
            )
        };
        Ok(Context {
            api_url,
            token,
            out: Output { json: global.json },
            // Debug logs (`-v`, `RUST_LOG`) go straight to stderr, where
            // they would land under live spinners: plain lines with them.
            mode: Mode::choose(
                global.quiet,
                global.no_progress
                    || global.verbose
                    || std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty()),
            ),
            interrupt: Mutex::new(None),
            mock,
            preview: OnceLock::new(),
        })
    }

    /// Decides how this command draws finished images: nothing unless
    /// `flag` was given (and stdout is a terminal, and neither `--json` nor
    /// `-q`). Call it before waiting: it may ask the terminal, which must
    /// not happen under a live display.
    ///
    /// # Errors
    /// `VESTIS_PREVIEW` is not a protocol name (exit 2).
    pub(crate) fn use_preview(&self, flag: &PreviewFlag) -> Result<(), Failure> {
        let preview = match flag.preview {
            Some(choice) => Preview::choose(choice, self.out.json, self.mode == Mode::Quiet)?,
            None => None,
        };
        let _ = self.preview.set(preview);
        Ok(())
    }

    /// How to draw finished images, if this command draws them.
    pub(crate) fn preview(&self) -> Option<Preview> {
        self.preview.get().copied().flatten()
    }

    /// Whether the API is the bundled `--mock` server of this command.
    pub(crate) fn is_mock(&self) -> bool {
        self.mock.is_some()
    }

    /// A line of human chatter on stderr (nothing with `-q`).
    pub(crate) fn note(&self, text: &str) {
        if self.mode != Mode::Quiet {
            crate::say(text);
        }
    }

    /// Sets the message shown if the user presses Ctrl-C from now on.
    pub(crate) fn on_interrupt(&self, message: String) {
        *self
            .interrupt
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(message);
    }

    /// The message for Ctrl-C: how to resume, or just "interrupted".
    pub(crate) fn interrupt_message(&self) -> String {
        self.interrupt
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| "interrupted".to_owned())
    }

    /// A client for the API; a token is required.
    pub(crate) fn client(&self) -> anyhow::Result<Client> {
        let Some(token) = &self.token else {
            let hint = if cfg!(feature = "mock") {
                " (or try --mock)"
            } else {
                ""
            };
            return Err(Failure::usage(format!(
                "no API token: pass --token or set VESTIS_TOKEN{hint}"
            ))
            .into());
        };
        Client::builder()
            .base_url(&self.api_url)
            .token(token)
            .user_agent(concat!("vestis-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| match e {
                // The SDK's words for a base URL it refuses, with the flag to fix.
                Error::Config(why) if why.starts_with("invalid base URL") => {
                    Failure::usage(format!("--api-url (or VESTIS_API_URL): {why}")).into()
                }
                other => other.into(),
            })
    }

    /// The fingerprint of the current token, as stored in the journal.
    pub(crate) fn identity(&self) -> String {
        fingerprint(self.token.as_deref().unwrap_or_default())
    }

    pub(crate) fn journal(&self) -> anyhow::Result<Journal> {
        Ok(Journal::locate()?)
    }
}

/// Whether a 404 to a request about a job is about the job at all: asks
/// for the job list, which every API has; a 404 there too means the base
/// URL is wrong (`Some`: exit 2 naming `--api-url`), not that the job is
/// gone. `None` for any other error, or when the list answers.
pub(crate) async fn wrong_api_url(client: &Client, error: &Error) -> Option<Failure> {
    if !matches!(error, Error::NotFound(_)) {
        return None;
    }
    let probe = ListOptions::page(1, 1);
    match client.list(&probe).await {
        Err(Error::NotFound(_)) => Some(route_failure(client.base_url(), error)),
        _ => None,
    }
}

/// A 404 to a request that names no job (a create, a list): always a
/// wrong base URL. Other errors as they are.
pub(crate) fn not_about_a_job(client: &Client, error: Error) -> anyhow::Error {
    match error {
        Error::NotFound(_) => route_failure(client.base_url(), &error).into(),
        other => other.into(),
    }
}
