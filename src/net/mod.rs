//! The network under every HTTP client of the suite: the host names it gives
//! the Kratos it runs (resolved to loopback), what its HTTPS clients trust
//! (the system's roots, a CA the user names, the run's own CA), and a
//! transport failure said as what it is — a TLS problem as TLS, never as
//! "nothing listens".
//!
//! - [`names`]: host names resolved to 127.0.0.1 by the suite's clients and its browser;
//! - [`tls`]: the trusted certificate authorities, and why a connection failed;
//! - [`authority`]: the run's own CA and server certificates (production topology).

pub mod authority;
pub mod names;
pub mod tls;

use std::time::Duration;

/// Every HTTP client of the suite is built from here: the names the suite gave
/// its Kratos resolve to loopback, HTTPS trusts what [`tls::trusted`] lists,
/// redirects are never followed (a `303` is for a check to see), and nothing
/// waits longer than `timeout`.
pub fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    tls::install_provider();
    let builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("kratos-conformance/", env!("CARGO_PKG_VERSION")));
    let builder = names::resolve(builder);
    let cas = tls::trusted_certificates();
    if cas.is_empty() { builder } else { builder.tls_certs_merge(cas) }
}

/// A client from [`client_builder`], for probes and one-off requests.
pub fn client(timeout: Duration) -> reqwest::Client {
    client_builder(timeout).build().expect("the HTTP client builds (its CAs were checked when they were named)")
}
