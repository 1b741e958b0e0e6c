//! The team's expectations of its deployment (`expect:` in `conformance.yml`),
//! checked against the description before any scenario runs, so that a
//! misconfiguration is the first thing a person reads, in words: "whoami accepts
//! AAL1 sessions of identities with a second factor", not 40 red scenarios.
//!
//! Without a `conformance.yml`, the suite expects what it exists for: TOTP
//! enabled, and a return-URL allow-list that does not admit any host.

use url::Url;

use super::team::{ReturnUrlPolicy, Toggle};
use super::Deployment;

/// A difference between what the team expects and what the deployment does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misconfiguration {
    /// What is wrong, in a user's words.
    pub what: String,
    /// The configuration key and its value.
    pub key: String,
}

impl std::fmt::Display for Misconfiguration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.what, self.key)
    }
}

/// Every expectation the deployment does not meet.
pub fn check(deployment: &Deployment) -> Vec<Misconfiguration> {
    let expect = &deployment.team.expect;
    let mut found = Vec::new();
    let toggle = |wanted: Option<Toggle>, default: Toggle, on: bool, method: &str, found: &mut Vec<Misconfiguration>| {
        let key = format!("selfservice.methods.{method}.enabled: {on}");
        match wanted.unwrap_or(default) {
            Toggle::Enabled if !on => found.push(Misconfiguration { what: format!("{method} is disabled, and it is expected enabled"), key }),
            Toggle::Disabled if on => found.push(Misconfiguration { what: format!("{method} is enabled, and it is expected disabled"), key }),
            _ => {}
        }
    };
    toggle(expect.totp, Toggle::Enabled, deployment.methods.totp, "totp", &mut found);
    toggle(expect.lookup_secret, Toggle::Any, deployment.methods.lookup_secret, "lookup_secret", &mut found);
    if let Some(wanted) = &expect.whoami_required_aal {
        let actual = deployment.whoami_required_aal.name();
        if wanted != actual {
            let what = if actual == "aal1" {
                format!("whoami accepts AAL1 sessions of identities that have a second factor, where conformance.yml expects {wanted}: a stolen password alone passes every backend that trusts whoami")
            } else {
                format!("whoami requires {actual}, where conformance.yml expects {wanted}")
            };
            found.push(Misconfiguration { what, key: format!("session.whoami.required_aal: {actual}") });
        }
    }
    if let Some(wanted) = &expect.settings_required_aal {
        let actual = deployment.settings_required_aal.name();
        if wanted != actual {
            let what = if actual == "aal1" {
                format!("settings accept AAL1 sessions, where conformance.yml expects {wanted}: a stolen password alone can unlink the second factor")
            } else {
                format!("settings require {actual}, where conformance.yml expects {wanted}")
            };
            found.push(Misconfiguration { what, key: format!("selfservice.flows.settings.required_aal: {actual}") });
        }
    }
    // Settings that cannot work together: the step-up to AAL2 from a settings
    // flow returns to the settings UI through `return_to`, which the allow-list
    // must admit (Kratos' own `/self-service` URLs are admitted anyway). Where
    // settings take an AAL1 session, there is no such step-up.
    if deployment.methods.totp
        && deployment.settings_required_aal == super::AalRule::HighestAvailable
        && !deployment.admits_return_to(&deployment.ui.settings)
    {
        found.push(Misconfiguration {
            what: format!(
                "the settings UI {} is not an allowed return URL: a settings flow that needs the second factor sends the browser to the error UI (self_service_flow_return_to_forbidden) instead of the AAL2 login, and nobody can pair or unlink an app after signing in with the password alone",
                deployment.ui.settings
            ),
            key: format!("selfservice.allowed_return_urls: [{}]", deployment.return_urls.allowed.join(", ")),
        });
    }
    if let Some(problem) = continuity_key_problem(deployment) {
        found.push(problem);
    }
    if expect.return_urls.unwrap_or(ReturnUrlPolicy::Restricted) == ReturnUrlPolicy::Restricted {
        if let Some(entry) = any_host_entry(&deployment.return_urls.allowed) {
            found.push(Misconfiguration {
                what: format!(
                    "the return-URL allow-list admits any host: after login, Kratos sends the user wherever a link says (\"{entry}\")"
                ),
                key: format!("selfservice.allowed_return_urls: {entry}"),
            });
        }
        for entry in lookalike_entries(&deployment.return_urls.allowed) {
            found.push(Misconfiguration {
                what: format!(
                    "the return-URL allow-list admits look-alike hosts: \"{entry}\" has no dot after its *, so it admits evil{} too",
                    entry.split("://").nth(1).unwrap_or_default().trim_start_matches('*').split('/').next().unwrap_or_default()
                ),
                key: format!("selfservice.allowed_return_urls: {entry}"),
            });
        }
    }
    found
}

/// Kratos v1.3.1 hands `secrets.cookie` (or, without it, `secrets.default`)
/// to the cookie store of its continuity container as it is
/// (`driver/registry_default.go`, `ContinuityCookieManager`): gorilla's
/// store reads the list as pairs, a signing key then an AES key, so the
/// second, fourth, ... secret must be 16, 24 or 32 bytes long. Otherwise every
/// flow that keeps state in that cookie (a refresh login from settings)
/// answers 500 "securecookie: error - caused by: crypto/aes: invalid key size"
/// (seen on v1.3.1 with a 46-byte second secret). The session cookie hashes
/// its keys first, so signing in still works, which hides it. Only lengths
/// are named: the values are secrets.
fn continuity_key_problem(deployment: &Deployment) -> Option<Misconfiguration> {
    let config = &deployment.config;
    let (key, secrets) = match config.strings("secrets.cookie") {
        cookie if !cookie.is_empty() => ("secrets.cookie", cookie),
        _ => ("secrets.default", config.strings("secrets.default")),
    };
    let bad: Vec<String> = secrets
        .iter()
        .enumerate()
        .filter(|(i, s)| i % 2 == 1 && ![16, 24, 32].contains(&s.len()))
        .map(|(i, s)| format!("entry {} is {} bytes", i + 1, s.len()))
        .collect();
    (!bad.is_empty()).then(|| Misconfiguration {
        what: format!(
            "Kratos uses the second, fourth, ... of {key} as AES keys of its continuity cookie, which must be 16, 24 or 32 bytes long, and {}: a refresh login from settings (a sign-in too old to pair or unlink an app) answers 500 \"securecookie: ... crypto/aes: invalid key size\"; make those secrets 32 bytes long, or keep one secret until the rotation",
            bad.join(", ")
        ),
        key: format!("{key}: {} secrets of {} bytes", secrets.len(), secrets.iter().map(|s| s.len().to_string()).collect::<Vec<_>>().join(", ")),
    })
}

/// An allow-list entry that admits any host: a host wildcard with nothing but a
/// port after it (`http://*:4455` admits every host on port 4455). Kratos itself
/// drops `https://*` and `https://*.com`, so those admit nothing.
fn any_host_entry(allowed: &[String]) -> Option<&str> {
    allowed.iter().map(String::as_str).find(|entry| {
        let Some(parsed) = Entry::parse(entry) else { return false };
        let candidate = format!("{}://evil.example.com{}{}", parsed.scheme, parsed.host.strip_prefix('*').filter(|s| s.starts_with(':')).unwrap_or(""), parsed.path);
        admitting_entry(std::slice::from_ref(&entry.to_string()), &candidate).is_some()
    })
}

/// Entries like `https://*acme.test/`: a wildcard without a dot after it is a
/// suffix match, so it admits `evilacme.test` as well as `app.acme.test`.
fn lookalike_entries(allowed: &[String]) -> Vec<&str> {
    allowed
        .iter()
        .map(String::as_str)
        .filter(|entry| Entry::parse(entry).is_some_and(|e| e.host.starts_with('*') && !e.host.starts_with("*.") && !e.host.starts_with("*:") && e.host != "*"))
        .collect()
}

/// An allow-list entry taken apart by hand: `*` is not a host a URL parser takes.
struct Entry<'a> {
    scheme: &'a str,
    /// With its port, lower-cased, as Go's `url.URL.Host`.
    host: String,
    path: String,
}

impl<'a> Entry<'a> {
    fn parse(entry: &'a str) -> Option<Entry<'a>> {
        let (scheme, rest) = entry.split_once("://")?;
        let (authority, path) = rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, "/".to_string()));
        let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority).to_ascii_lowercase();
        Some(Entry { scheme, host, path })
    }

    /// Kratos ignores `*` and a wildcard over an ICANN public suffix (`*.com`,
    /// `*.co.uk`). Names that no registry delegates (`test`, `internal`, ...)
    /// are not public suffixes: Kratos keeps such an entry.
    fn ignored_by_kratos(&self) -> bool {
        const NOT_DELEGATED: &[&str] = &["test", "example", "invalid", "localhost", "local", "internal", "lan", "home", "corp", "intranet"];
        let Some(suffix) = self.host.strip_prefix("*.") else { return self.host == "*" };
        let labels: Vec<&str> = suffix.split('.').collect();
        if suffix.contains(':') || labels.last().is_some_and(|tld| NOT_DELEGATED.contains(tld)) {
            return false;
        }
        labels.len() == 1 || (labels.len() == 2 && labels[0].len() <= 3)
    }
}

/// The allow-list entry that admits `return_to`, matched as Kratos v1.3.1 does
/// (`x/http_secure_redirect.go`): same scheme; the host (port included) equal or,
/// for an entry whose host starts with `*`, ending in the rest of it; the path a
/// plain string prefix.
pub fn admitting_entry<'a>(allowed: &'a [String], return_to: &str) -> Option<&'a str> {
    let return_to = Url::parse(return_to).ok()?;
    let mut host = return_to.host_str().unwrap_or_default().to_ascii_lowercase();
    if let Some(port) = return_to.port() {
        host = format!("{host}:{port}");
    }
    let path = if return_to.path().is_empty() { "/" } else { return_to.path() };
    allowed.iter().map(String::as_str).find(|entry| {
        let Some(entry) = Entry::parse(entry).filter(|e| !e.ignored_by_kratos()) else { return false };
        let host_ok = match entry.host.strip_prefix('*') {
            Some(suffix) => host.ends_with(suffix),
            None => entry.host == host,
        };
        entry.scheme.eq_ignore_ascii_case(return_to.scheme()) && host_ok && path.starts_with(entry.path.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|s| s.to_string()).collect()
    }

    /// secrets.cookie decides the continuity cookie's AES keys: the second
    /// (fourth, ...) secret must be 16, 24 or 32 bytes long.
    #[tokio::test]
    async fn a_second_cookie_secret_that_is_no_aes_key_is_named_by_its_length() {
        let mut deployment = super::super::tests::own_deployment_allowing(&["http://127.0.0.1:4455/"]).await;
        deployment.config.set("secrets.cookie", serde_json::json!(["a-first-secret-of-any-length", "x".repeat(46)]));
        let found = continuity_key_problem(&deployment).expect("a 46-byte second secret");
        assert!(found.what.contains("entry 2 is 46 bytes"), "{found}");
        assert!(!found.to_string().contains(&"x".repeat(46)), "a secret's value is never named: {found}");
        deployment.config.set("secrets.cookie", serde_json::json!(["a-first-secret-of-any-length", "y".repeat(32), "z".repeat(40)]));
        assert_eq!(continuity_key_problem(&deployment), None, "the third secret signs, it is no AES key");
        deployment.config.set("secrets.cookie", serde_json::json!(["one-secret-of-any-length-at-all"]));
        assert_eq!(continuity_key_problem(&deployment), None);
    }

    #[test]
    fn allow_list_entries_match_as_kratos_matches_them() {
        let allowed = list(&["http://127.0.0.1:4455/", "https://*.acme.test/app"]);
        assert_eq!(admitting_entry(&allowed, "http://127.0.0.1:4455/after"), Some("http://127.0.0.1:4455/"));
        assert_eq!(admitting_entry(&allowed, "https://shop.acme.test/app/x"), Some("https://*.acme.test/app"));
        assert_eq!(admitting_entry(&allowed, "https://shop.acme.test/other"), None);
        assert_eq!(admitting_entry(&allowed, "https://evil.example.com/"), None);
        // The port is part of the host.
        assert_eq!(admitting_entry(&allowed, "http://127.0.0.1:4456/after"), None);
        assert_eq!(admitting_entry(&allowed, "https://acme.test/app"), None);
    }

    #[test]
    fn entries_that_admit_any_host_are_found_and_those_kratos_drops_are_not() {
        assert_eq!(any_host_entry(&list(&["http://127.0.0.1:4455/", "http://*:4455/"])), Some("http://*:4455/"));
        // Kratos ignores these entries: they admit nothing.
        assert_eq!(any_host_entry(&list(&["https://*", "https://*.com", "https://*.co.uk/"])), None);
        assert_eq!(admitting_entry(&list(&["https://*.com"]), "https://evil.com/"), None);
        assert_eq!(any_host_entry(&list(&["https://*.acme.test/", "http://127.0.0.1:4455/"])), None);
        // Not a public suffix: Kratos keeps it, and it admits the subdomains.
        assert_eq!(admitting_entry(&list(&["https://*.test/"]), "https://a.test/"), Some("https://*.test/"));
    }

    #[test]
    fn a_wildcard_without_a_dot_admits_look_alikes() {
        assert_eq!(lookalike_entries(&list(&["https://*acme.test/", "https://*.acme.test/", "http://*:4455/"])), ["https://*acme.test/"]);
        assert_eq!(admitting_entry(&list(&["https://*acme.test/"]), "https://evilacme.test/x"), Some("https://*acme.test/"));
    }
}
