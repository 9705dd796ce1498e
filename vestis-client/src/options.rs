//! What callers pass per call: the options of create and list (the
//! client's own settings are the builder's, in `builder.rs`).

use crate::model::JobStatus;

/// Options for [`Client::create_with`](crate::Client::create_with).
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: vestis_client::Client) -> Result<(), vestis_client::Error> {
/// use vestis_client::{ChatRequest, CreateOptions, JobKind};
/// // A key derived from your own order id: a retry after a crash finds the same job.
/// let options = CreateOptions::default().idempotency_key("order-1234").retries(5);
/// let created = client.create_with(JobKind::Chat, &ChatRequest::new("x"), &options).await?;
/// # let _ = created; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub(crate) idempotency_key: Option<String>,
    pub(crate) send_idempotency_key: bool,
    pub(crate) retries: usize,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            idempotency_key: None,
            send_idempotency_key: true,
            retries: 3,
        }
    }
}

impl CreateOptions {
    /// Uses this `Idempotency-Key` instead of a fresh random one, e.g. to
    /// replay a create whose answer was lost (the CLI's journal does this).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self.send_idempotency_key = true;
        self
    }

    /// Sends no `Idempotency-Key`. A create is then never retried, since a
    /// retry could make a second job.
    pub fn without_idempotency_key(mut self) -> Self {
        self.idempotency_key = None;
        self.send_idempotency_key = false;
        self
    }

    /// How many times a transient failure is retried (default 3; only with a key).
    pub fn retries(mut self, retries: usize) -> Self {
        self.retries = retries;
        self
    }
}

/// Query of [`Client::list`](crate::Client::list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Page number from 1 (server default 1).
    pub page: Option<u64>,
    /// Jobs per page, 1..=100 (server default 20).
    pub page_size: Option<u32>,
    /// Only jobs with this status.
    pub status: Option<JobStatus>,
}

impl ListOptions {
    /// Page `page` of `page_size` jobs.
    pub fn page(page: u64, page_size: u32) -> Self {
        ListOptions {
            page: Some(page),
            page_size: Some(page_size),
            status: None,
        }
    }

    /// Only jobs with `status`.
    pub fn status(mut self, status: JobStatus) -> Self {
        self.status = Some(status);
        self
    }
}
