//! Misconfigurations that production makes possible, looked for on each
//! instance before the first scenario. Each breaks every user of the
//! deployment in the same way, so it fails the run at once, in its first
//! lines, with what users will see and what to change; the scenarios would
//! otherwise fail one by one, each for a reason that names none of it.
//!
//! - replicas whose cookie secrets differ (a session made on one is refused by
//!   the other: the login loop teams report with two replicas and one);
//! - `serve.public.base_url` on `http://` where clients reach Kratos over HTTPS;
//! - a proxy that does not forward `X-Forwarded-Proto` (or `Host`);
//! - a cookie `Domain` that covers neither Kratos' public host nor the UI's;
//! - `SameSite=None` on a session cookie Kratos sends without `Secure`.
//!
//! On an external deployment, also what the configuration the suite was given
//! promises against what the deployment does ([`drift`]): the methods a
//! settings flow offers, the issuer a pairing shows, whoami's AAL rule, and
//! registration and recovery refused where they are off. Each difference is a
//! [`Finding::Drift`]: said in the first lines, since every scenario's
//! expectation comes from that configuration.
//!
//! Not looked for: replicas whose `secrets.cipher` differ. In a deployment of
//! passwords and TOTP nothing is encrypted with it (OIDC tokens are), so no
//! request of the suite can tell.

use std::sync::Arc;

use crate::client::{Client, ClientKind, Exchange, FlowKind, Transcript};
use crate::deployment::Deployment;
use crate::identity::{AdminApi, Person};
use crate::kratos::Kratos;

/// What the run does with a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The deployment breaks its users: the run fails.
    Misconfiguration(String),
    /// Something the suite's own way of running Kratos brings about (the dev
    /// topology's `--dev`), or a check that could not be made: said, not failed.
    Note(String),
    /// An external deployment does not run the configuration the suite was
    /// given (`KRATOS_CONFIG_DIR`): said first; the scenarios show what follows.
    Drift(String),
}

/// Every finding on `kratos`, each naming the instance.
pub async fn probe(kratos: &Arc<Kratos>) -> Vec<Finding> {
    let deployment = &kratos.deployment;
    let mut findings: Vec<Finding> = cookie_domain(deployment).into_iter().map(Finding::Misconfiguration).collect();
    if let Some(problem) = same_site_none_without_secure(deployment) {
        findings.push(if suite_chose_dev(kratos) {
            Finding::Note(format!("{problem} (here the suite's dev topology runs Kratos with --dev; KRATOS_TOPOLOGY=production runs it as production does)"))
        } else {
            Finding::Misconfiguration(problem)
        });
    }
    if kratos.public_url.scheme() == "https" {
        findings.extend(addresses_over_https(kratos).await);
    }
    // The suite's own half-rolled-out rotation differs on purpose.
    let rolling_out = kratos.deployment.derived.contains(&crate::deployment::Derivation::CookieSecret(crate::deployment::CookieSecrets::RollingOut));
    if kratos.replicas.len() >= 2 && !rolling_out {
        findings.extend(cookie_secrets_shared(kratos).await);
    }
    if kratos.backend == crate::kratos::Backend::External {
        findings.extend(drift(kratos).await);
    }
    findings
        .into_iter()
        .map(|f| match f {
            Finding::Misconfiguration(m) => Finding::Misconfiguration(format!("{}: {m}", kratos.name)),
            Finding::Note(m) => Finding::Note(format!("{}: {m}", kratos.name)),
            Finding::Drift(m) => Finding::Drift(format!("{}: {m}", kratos.name)),
        })
        .collect()
}

/// The suite started this Kratos with `--dev` itself (not a team's choice).
fn suite_chose_dev(kratos: &Kratos) -> bool {
    kratos.backend != crate::kratos::Backend::External && kratos.deployment.dev
}

/// Whether a cookie with `Domain=domain` is sent to `host` (RFC 6265 5.1.3).
pub fn domain_matches(domain: &str, host: &str) -> bool {
    let domain = domain.trim_start_matches('.').to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    host == domain || host.ends_with(&format!(".{domain}"))
}

/// A configured cookie domain must cover Kratos' public host (or browsers
/// refuse the cookie) and the UI's (or a UI that reads the session with the
/// request's cookies sees nobody signed in).
pub fn cookie_domain(deployment: &Deployment) -> Vec<String> {
    let mut problems = Vec::new();
    let cookies = [("session.cookie.domain", deployment.session_cookie.domain.as_deref()), ("cookies.domain", deployment.csrf_cookie.domain.as_deref())];
    let public_host = deployment.public_base_url.host_str().unwrap_or_default().to_string();
    for (key, domain) in cookies {
        let Some(domain) = domain.filter(|d| !d.is_empty()) else { continue };
        if !domain_matches(domain, &public_host) {
            problems.push(format!(
                "{key} is {domain}, and Kratos' public host is {public_host} (serve.public.base_url): browsers refuse every cookie Kratos sets with that Domain, so nobody keeps a session or passes a CSRF check; set {key} to {public_host} or a parent domain of it"
            ));
            continue;
        }
        let ui = &deployment.ui;
        for (what, url) in [("login UI", &ui.login), ("settings UI", &ui.settings), ("error UI", &ui.error)] {
            let Some(ui_host) = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)) else { continue };
            if !domain_matches(domain, &ui_host) {
                problems.push(format!(
                    "{key} is {domain}, and the {what} is at {ui_host} ({url}): browsers never send Kratos' cookies to the UI, so a UI that reads the session or the flow with the request's cookies sees nobody signed in and fails its CSRF checks; set {key} to a domain both are under"
                ));
                break;
            }
        }
    }
    problems
}

/// Kratos sends the session cookie with the configured `SameSite`, and with
/// `Secure` only outside `--dev`; browsers refuse `SameSite=None` without it.
pub fn same_site_none_without_secure(deployment: &Deployment) -> Option<String> {
    (deployment.dev && deployment.session_cookie.same_site.eq_ignore_ascii_case("none")).then(|| {
        format!(
            "session.cookie.same_site is None, and Kratos runs with --dev, which sends the session cookie ({}) without Secure: browsers refuse a SameSite=None cookie that is not Secure, so no browser keeps a session; run Kratos without --dev (over HTTPS), or use SameSite=Lax",
            deployment.session_cookie.name
        )
    })
}

/// Where clients reach Kratos over HTTPS: `ui.action` (from
/// `serve.public.base_url`) and the flow's `request_url` (from
/// `X-Forwarded-Proto` and `Host`) must be on that HTTPS address too.
async fn addresses_over_https(kratos: &Arc<Kratos>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let client = Client::new(ClientKind::Spa, Arc::clone(kratos), Transcript::default());
    let started = match client.start_flow(FlowKind::Login, &[]).await {
        Ok(started) if started.status.as_u16() == 200 => started,
        Ok(other) => return vec![Finding::Note(format!("could not check the addresses Kratos builds: a login flow answered {}", other.status))],
        Err(e) => return vec![Finding::Note(format!("could not check the addresses Kratos builds: {}", crate::redact::text(&e.to_string())))],
    };
    let flow = started.json().unwrap_or_default();
    let public = &kratos.public_url;
    if let Some(action) = flow.pointer("/ui/action").and_then(|a| a.as_str())
        && action.starts_with("http://")
    {
        findings.push(Finding::Misconfiguration(format!(
            "clients reach Kratos at {public}, and it builds ui.action and its redirects on plain HTTP ({action}): serve.public.base_url is not the https:// address, so every form and redirect leaves HTTPS (and the CSRF cookie's name is made from the other URL); set serve.public.base_url to {public}"
        )));
    }
    if let Some(request_url) = flow.get("request_url").and_then(|u| u.as_str()).and_then(|u| url::Url::parse(u).ok()) {
        if request_url.scheme() != "https" {
            findings.push(Finding::Misconfiguration(format!(
                "Kratos records a login flow requested at {public} as {request_url}: the proxy in front of it does not send X-Forwarded-Proto: https, so Kratos takes every request for plain HTTP (a flow's request_url is where a step-up returns the browser to, and what its return_to is read from); forward it (nginx: proxy_set_header X-Forwarded-Proto $scheme)"
            )));
        } else if request_url.host_str() != public.host_str() || request_url.port_or_known_default() != public.port_or_known_default() {
            findings.push(Finding::Misconfiguration(format!(
                "Kratos records a login flow requested at {public} as {request_url}: the proxy in front of it does not forward the client's Host (or X-Forwarded-Host), so Kratos records a host the browser cannot reach (a flow's request_url is where a step-up returns the browser to); forward it (nginx: proxy_set_header Host $http_host)"
            )));
        }
    }
    findings
}

/// A session made on the first replica, shown to every other: refused where
/// their `secrets.cookie` (or `secrets.default`) differ, which Kratos does
/// not warn about (an unset secret is a random one per process outside
/// `--dev`).
async fn cookie_secrets_shared(kratos: &Arc<Kratos>) -> Vec<Finding> {
    let deployment = &kratos.deployment;
    let cannot = |why: String| vec![Finding::Note(format!("could not check that its replicas share their cookie secrets: {}", crate::redact::text(&why)))];
    if !deployment.methods.password {
        return cannot("the password method is off".into());
    }
    let transcript = Transcript::default();
    let admin = AdminApi::new(Arc::clone(kratos), transcript.clone());
    let schema = deployment.default_schema();
    let person = match Person::generate(deployment, schema) {
        Ok(person) => person,
        Err(e) => return cannot(e.to_string()),
    };
    let created = match admin.create(&person, &schema.id).await {
        Ok(created) if created.status.as_u16() == 201 => created,
        Ok(other) => return cannot(format!("the admin API answered {} to creating an identity", other.status)),
        Err(e) => return cannot(e.to_string()),
    };
    let id = created.json().ok().and_then(|b| b["id"].as_str().map(str::to_string)).unwrap_or_default();
    let findings = compare_replicas(kratos, &person, transcript).await.unwrap_or_else(|e| cannot(format!("{e:#}")));
    let _ = admin.delete(&id).await;
    findings
}

async fn compare_replicas(kratos: &Arc<Kratos>, person: &Person, transcript: Transcript) -> anyhow::Result<Vec<Finding>> {
    let mut spa = Client::new(ClientKind::Spa, Arc::clone(kratos), transcript);
    spa.send_to_replica(Some(1))?;
    let flow = spa.start_and_load(FlowKind::Login, &[]).await?;
    let identifier = person.identifiers.first().map(|i| i.value.clone()).ok_or_else(|| anyhow::anyhow!("the schema has no password identifier"))?;
    let signed_in: Exchange = spa.submit_flow(&flow, serde_json::json!({ "method": "password", "identifier": identifier, "password": person.password })).await?;
    if signed_in.status.as_u16() != 200 {
        anyhow::bail!("the password login on replica 1 answered {}", signed_in.status);
    }
    let mut findings = Vec::new();
    for number in 2..=kratos.replicas.len() {
        spa.send_to_replica(Some(number))?;
        let whoami = spa.whoami().await?;
        if whoami.status.as_u16() == 401 {
            findings.push(Finding::Misconfiguration(format!(
                "a session made on replica 1 is rejected by replica {number} ({}): their cookie secrets differ (secrets.cookie, else secrets.default; one left unset chooses its own at random outside --dev), so users are signed out whenever the proxy sends them to another replica; give every replica the same secrets",
                kratos.replicas[number - 1].public_url
            )));
        }
    }
    Ok(findings)
}

/// What the configuration promises, asked of the deployment with one identity
/// of its own (deleted after): a native app signs in with the password, opens
/// a settings flow (which methods it offers, the issuer of the pairing it
/// offers), pairs an app and signs in again with the password alone (whoami's
/// AAL rule); and registration and recovery where the configuration has them off.
pub async fn drift(kratos: &Arc<Kratos>) -> Vec<Finding> {
    let deployment = &kratos.deployment;
    let cannot = |why: String| vec![Finding::Note(format!("could not compare the deployment with its configuration: {}", crate::redact::text(&why)))];
    let mut found = disabled_flows_refused(kratos).await;
    found.extend(cors_as_configured(kratos).await.into_iter().map(Finding::Drift));
    if !deployment.methods.password {
        found.extend(cannot("the password method is off".into()));
        return found;
    }
    let transcript = Transcript::default();
    let admin = AdminApi::new(Arc::clone(kratos), transcript.clone());
    let schema = deployment.default_schema();
    let person = match Person::generate(deployment, schema) {
        Ok(person) => person,
        Err(e) => return cannot(e.to_string()),
    };
    let created = match admin.create(&person, &schema.id).await {
        Ok(created) if created.status.as_u16() == 201 => created,
        Ok(other) => return cannot(format!("the admin API answered {} to creating an identity", other.status)),
        Err(e) => return cannot(e.to_string()),
    };
    let id = created.json().ok().and_then(|b| b["id"].as_str().map(str::to_string)).unwrap_or_default();
    match settings_as_configured(kratos, &person, transcript).await {
        Ok(differences) => found.extend(differences.into_iter().map(Finding::Drift)),
        Err(e) => found.extend(cannot(format!("{e:#}"))),
    }
    let _ = admin.delete(&id).await;
    found
}

/// Each origin the configuration's CORS allows, and one it does not list,
/// sent as a browser's preflight: an answer that does not match is a
/// deployment whose CORS is not the configuration's (a proxy that answers
/// preflights itself, or an environment variable that overrides the list).
async fn cors_as_configured(kratos: &Arc<Kratos>) -> Vec<String> {
    let cors = &kratos.deployment.cors;
    let client = Client::new(ClientKind::Spa, Arc::clone(kratos), Transcript::default());
    let mut url = kratos.public("self-service/login");
    url.query_pairs_mut().append_pair("flow", crate::client::UNISSUED_FLOW_ID);
    let mut origins = if cors.enabled { cors.example_origins() } else { Vec::new() };
    origins.push(crate::deployment::CORS_UNLISTED_ORIGIN.to_string());
    let mut differences = Vec::new();
    for origin in origins {
        let Ok(answer) = client.preflight(url.clone(), &origin).await else { continue };
        // rs/cors answers `*` for a list of `*`, the origin itself otherwise.
        let allowed = matches!(answer.header("access-control-allow-origin"), Some(o) if o == origin || o == "*");
        if allowed != cors.allows(&origin) {
            differences.push(format!(
                "CORS {} the origin {origin} in the configuration (serve.public.cors), and the deployment {} it",
                if cors.allows(&origin) { "allows" } else { "does not allow" },
                if allowed { "allows" } else { "does not allow" }
            ));
        }
    }
    differences
}

async fn settings_as_configured(kratos: &Arc<Kratos>, person: &Person, transcript: Transcript) -> anyhow::Result<Vec<String>> {
    let deployment = &kratos.deployment;
    let identifier = person.identifiers.first().map(|i| i.value.clone()).ok_or_else(|| anyhow::anyhow!("the schema has no password identifier"))?;
    let mut native = Client::new(ClientKind::Native, Arc::clone(kratos), transcript.clone());
    native.password_step(&identifier, &person.password).await?;
    let flow = native.start_and_load(FlowKind::Settings, &[]).await?;
    let mut differences = Vec::new();
    // The QR code is an img node (by id), the recovery codes' button an input (by name).
    let offers = |node: &str| flow.node_by_id(node).is_some() || flow.node(node).is_some();
    for (method, on, node) in [("totp", deployment.methods.totp, "totp_qr"), ("lookup_secret", deployment.methods.lookup_secret, "lookup_secret_regenerate")] {
        if on != offers(node) {
            differences.push(format!(
                "selfservice.methods.{method}.enabled is {on} in the configuration, and the deployment's settings flow {} it",
                if offers(node) { "offers" } else { "does not offer" }
            ));
        }
    }
    if !(deployment.methods.totp && offers("totp_qr")) {
        return Ok(differences);
    }
    // The issuer the app will show, as the pairing's QR code carries it.
    let src = flow.node_by_id("totp_qr").and_then(|n| n.attributes.get("src")).and_then(|v| v.as_str()).unwrap_or_default();
    if let Ok(text) = crate::totp::decode_qr_data_uri(src)
        && let Ok(url) = crate::totp::OtpAuthUrl::parse(&text)
        && let Some(issuer) = url.issuer
        && issuer != deployment.methods.totp_issuer
    {
        differences.push(format!(
            "the TOTP issuer is \"{}\" in the configuration (selfservice.methods.totp.config.issuer), and the deployment's pairing shows \"{issuer}\"",
            deployment.methods.totp_issuer
        ));
    }
    // whoami's AAL rule, on an AAL1 session of an identity with an app.
    native.pair_totp().await?;
    let mut again = Client::new(ClientKind::Native, Arc::clone(kratos), transcript);
    again.password_step(&identifier, &person.password).await?;
    let whoami = again.whoami().await?;
    let accepts_aal1 = whoami.status.as_u16() == 200;
    let configured_aal1 = deployment.whoami_required_aal == crate::deployment::AalRule::Aal1;
    if accepts_aal1 != configured_aal1 {
        differences.push(format!(
            "session.whoami.required_aal is {} in the configuration, and the deployment's whoami {} the AAL1 session of an identity with an authenticator app ({})",
            deployment.whoami_required_aal.name(),
            if accepts_aal1 { "accepts" } else { "refuses" },
            whoami.status
        ));
    }
    Ok(differences)
}

/// Registration and recovery the configuration has off: the deployment must
/// refuse to start their flows (an API flow is enough to ask).
async fn disabled_flows_refused(kratos: &Arc<Kratos>) -> Vec<Finding> {
    let deployment = &kratos.deployment;
    let native = Client::new(ClientKind::Native, Arc::clone(kratos), Transcript::default());
    let mut found = Vec::new();
    for (kind, on, key) in [
        (FlowKind::Registration, deployment.registration_enabled, "selfservice.flows.registration.enabled"),
        (FlowKind::Recovery, deployment.recovery_enabled, "selfservice.flows.recovery.enabled"),
    ] {
        let Ok(started) = native.start_flow(kind, &[]).await else { continue };
        let starts = started.status.as_u16() == 200;
        if starts != on {
            found.push(Finding::Drift(format!(
                "{key} is {on} in the configuration, and the deployment {} a {} flow ({})",
                if starts { "starts" } else { "refuses to start" },
                kind.path(),
                started.status
            )));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_domain_covers_its_host_and_the_hosts_under_it() {
        assert!(domain_matches("example.com", "example.com"));
        assert!(domain_matches(".example.com", "auth.example.com"));
        assert!(domain_matches("Example.com", "app.EXAMPLE.com"));
        assert!(!domain_matches("example.com", "badexample.com"));
        assert!(!domain_matches("auth.example.com", "app.example.com"));
    }
}
