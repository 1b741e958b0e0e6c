//! The host names a deployment of this configuration is reached at, where the
//! suite starts it. A deployment whose cookies carry a `Domain`
//! (`cookies.domain`, `session.cookie.domain`) only works for clients that
//! reach it under a name in that domain: a cookie jar keeps no
//! `Domain=acme.test` cookie from `127.0.0.1`. So such a deployment is reached
//! at its own public host (or `auth.<domain>`), on the suite's port. Each name
//! chosen is registered with [`crate::net::names`], which resolves it to
//! loopback for every client.

use crate::net::names::{is_loopback_name, register};

use super::RawConfig;

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
    register(&host);
    Some(host)
}

/// The name a production topology of this configuration is reached at: a
/// name in its cookies' domain where they carry one ([`public_host`]), else
/// the host of its configured `serve.public.base_url` where that is a DNS name
/// (the team's own `auth.example.com`), else `auth.kratos-conformance.test`.
/// Never a loopback name: browsers and cookie jars treat `127.0.0.1` and
/// `localhost` as secure even over plain HTTP, which would hide what `Secure`
/// changes. Registered, so every client resolves it to loopback.
pub fn production_host(config: &RawConfig) -> String {
    if let Some(host) = public_host(config) {
        return host;
    }
    let configured = config
        .str("serve.public.base_url")
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .filter(|host| host.parse::<std::net::IpAddr>().is_err() && !is_loopback_name(host) && host.contains('.'));
    let host = configured.unwrap_or_else(|| DEFAULT_PRODUCTION_HOST.to_string());
    register(&host);
    host
}

/// The production topology's host where the configuration names none.
pub const DEFAULT_PRODUCTION_HOST: &str = "auth.kratos-conformance.test";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::names::all;
    use serde_json::json;

    #[test]
    fn a_cookie_domain_gives_a_host_in_it() {
        let config = |v| RawConfig::from_value(v);
        assert_eq!(public_host(&config(json!({"cookies": {"domain": "initech.test"}}))).as_deref(), Some("auth.initech.test"));
        let with_base = json!({"session": {"cookie": {"domain": ".acme.test"}}, "serve": {"public": {"base_url": "https://login.acme.test/"}}});
        assert_eq!(public_host(&config(with_base)).as_deref(), Some("login.acme.test"));
        assert_eq!(public_host(&config(json!({}))), None);
    }

    #[test]
    fn production_is_reached_under_a_name_that_is_not_loopback() {
        let config = |v| RawConfig::from_value(v);
        assert_eq!(production_host(&config(json!({"serve": {"public": {"base_url": "http://127.0.0.1:4433/"}}}))), DEFAULT_PRODUCTION_HOST);
        assert_eq!(production_host(&config(json!({"serve": {"public": {"base_url": "http://localhost:4433/"}}}))), DEFAULT_PRODUCTION_HOST);
        assert_eq!(production_host(&config(json!({"serve": {"public": {"base_url": "https://auth.acme.test/"}}}))), "auth.acme.test");
        assert_eq!(production_host(&config(json!({"cookies": {"domain": "initech.test"}}))), "auth.initech.test");
        assert!(all().iter().any(|n| n == "auth.acme.test"));
    }
}
