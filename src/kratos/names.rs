//! Host names the suite gives the Kratos it runs, resolved to loopback by every
//! HTTP client of the suite. A deployment whose cookies carry a `Domain`
//! (`cookies.domain`, `session.cookie.domain`) only works for clients that
//! reach it under a name in that domain: a cookie jar keeps no
//! `Domain=acme.test` cookie from `127.0.0.1`. So such a deployment is reached
//! at its own public host (or `auth.<domain>`), on the suite's port.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::RwLock;

use crate::deployment::RawConfig;

static NAMES: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// The host to reach Kratos at for this configuration, if its cookies need one
/// (registered, so every client resolves it to loopback).
pub fn public_host(config: &RawConfig) -> Option<String> {
    let domain = config.str("session.cookie.domain").or_else(|| config.str("cookies.domain"))?;
    let domain = domain.trim_start_matches('.').to_ascii_lowercase();
    if domain.is_empty() || domain.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let configured = config
        .str("serve.public.base_url")
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .filter(|host| *host == domain || host.ends_with(&format!(".{domain}")));
    let host = configured.unwrap_or_else(|| format!("auth.{domain}"));
    let mut names = NAMES.write().expect("not poisoned");
    if !names.contains(&host) {
        names.push(host.clone());
    }
    Some(host)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_cookie_domain_gives_a_host_in_it() {
        let config = |v| RawConfig::from_value(v);
        assert_eq!(public_host(&config(json!({"cookies": {"domain": "initech.test"}}))).as_deref(), Some("auth.initech.test"));
        let with_base = json!({"session": {"cookie": {"domain": ".acme.test"}}, "serve": {"public": {"base_url": "https://login.acme.test/"}}});
        assert_eq!(public_host(&config(with_base)).as_deref(), Some("login.acme.test"));
        assert_eq!(public_host(&config(json!({}))), None);
    }
}
