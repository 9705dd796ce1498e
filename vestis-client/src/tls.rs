//! Which crypto provider rustls uses for HTTPS, chosen by Cargo feature.
//!
//! `rustls` (the default) means `rustls-aws-lc`, reqwest's own choice.
//! `rustls-ring` selects ring, whose build takes a fifth less CPU than
//! aws-lc-rs's C library (the README has the figures), through reqwest's
//! `rustls-no-provider` mode. That mode holds for the whole program: any
//! other reqwest client in it (one without a TLS feature of its own) panics
//! when built while no provider is installed. So ring is opt-in for
//! libraries, and the `vestis` binary, a whole program, uses it. aws-lc-rs
//! wins when both are on. With neither, the client speaks `http://` only,
//! which is all the mock server (a user of this crate's types) needs.

/// Whether this build can speak HTTPS at all.
pub(crate) const HTTPS: bool = cfg!(any(feature = "rustls-ring", feature = "rustls-aws-lc"));

/// Makes ring the process's default rustls provider, unless the application
/// installed one already (then that one is used, as reqwest does); with
/// aws-lc-rs, reqwest brings its own and this does nothing.
pub(crate) fn install_provider() {
    #[cfg(all(feature = "rustls-ring", not(feature = "rustls-aws-lc")))]
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread's install is fine: one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use crate::Client;

    /// reqwest panics while building a client when rustls has no provider,
    /// so a built https client proves the selected one is in place.
    #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
    #[test]
    fn an_https_client_builds_with_the_selected_provider() {
        let client = Client::builder()
            .base_url("https://api.example.invalid/api/v1")
            .token("t")
            .build();
        assert!(client.is_ok());
        #[cfg(all(feature = "rustls-ring", not(feature = "rustls-aws-lc")))]
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }

    #[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc")))]
    #[test]
    fn without_tls_an_https_base_url_is_refused() {
        let err = Client::builder()
            .base_url("https://api.example.invalid/api/v1")
            .build()
            .unwrap_err();
        assert!(
            matches!(err, crate::Error::Config(ref m) if m.contains("rustls")),
            "{err}"
        );
    }
}
