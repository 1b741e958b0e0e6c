//! Host names the suite gives the Kratos it runs, resolved to loopback by every
//! HTTP client of the suite (which names a configuration needs is the
//! deployment's to say: [`crate::deployment::hosts`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::RwLock;

static NAMES: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// `localhost` and its subdomains: secure contexts to a browser, whatever the scheme.
pub fn is_loopback_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// Resolves `host` to loopback in every client of the suite from now on.
pub fn register(host: &str) {
    let mut names = NAMES.write().expect("not poisoned");
    if !names.iter().any(|n| n == host) {
        names.push(host.to_string());
    }
}

/// Every name the suite gave its Kratos (the browser resolves them to
/// loopback too).
pub fn all() -> Vec<String> {
    NAMES.read().expect("not poisoned").clone()
}

/// `builder`, resolving every name the suite gave its Kratos to loopback (the
/// port comes from each URL).
pub fn resolve(mut builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    for name in NAMES.read().expect("not poisoned").iter() {
        builder = builder.resolve(name, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    }
    builder
}
