//! The HTTP layers around the routers: the accept loop and body reader
//! (`conn`), CORS (`cors`), and the `/api/v1` front with its fast routes,
//! authentication and rate limit (`front`).

pub(crate) mod conn;
pub(crate) mod cors;
pub(crate) mod front;
