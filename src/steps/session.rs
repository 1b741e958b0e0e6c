//! Sessions: what `/sessions/whoami` and successful logins say about them.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use cucumber::{given, then, when};
use crate::check;
use crate::client::{Client, ClientKind, Credentials, Exchange, FlowKind};
use reqwest::Method;
use crate::deployment::{AalRule, CookieSecrets};
use crate::ConformanceWorld;
use serde_json::{Value, json};

#[then(regex = r#"^the client (?:still )?has a session at "(aal\d)" with the methods "(.*)"$"#)]
async fn has_session(world: &mut ConformanceWorld, aal: String, methods: String) -> Result<()> {
    let whoami = world.client()?.whoami().await?;
    check::status(&whoami, 200)?;
    session_is(&whoami, &whoami.json()?, &aal, &methods)
}

#[when("a new native client signs in with the password")]
async fn new_native_signs_in(world: &mut ConformanceWorld) -> Result<()> {
    let client = world.new_client(ClientKind::Native).await?;
    let flow = client.start_and_load(FlowKind::Login, &[]).await?;
    let person = world.identity()?.person.clone();
    let identifier = world.identifier_of(&person)?;
    world.last = Some(client.submit_flow(&flow, json!({"method": "password", "identifier": identifier, "password": person.password})).await?);
    world.client = Some(client);
    Ok(())
}

#[then(regex = r#"^that session is at "(aal\d)" with the methods "(.*)", (and shows the identity|without the identity)$"#)]
async fn that_session(world: &mut ConformanceWorld, aal: String, methods: String, identity: String) -> Result<()> {
    let exchange = world.last()?;
    let body = exchange.json()?;
    let session = body.get("session").context("no session")?;
    session_is(exchange, session, &aal, &methods)?;
    let expected = if identity == "without the identity" { Value::Null } else { json!(world.identity()?.id) };
    let pointer = if expected.is_null() { "/identity" } else { "/identity/id" };
    check::json_field(exchange, session, pointer, &expected)
}

pub(crate) fn session_is(exchange: &Exchange, session: &Value, aal: &str, methods: &str) -> Result<()> {
    check::json_field(exchange, session, "/active", &json!(true))?;
    check::json_field(exchange, session, "/authenticator_assurance_level", &json!(aal))?;
    let actual: Vec<&str> = session["authentication_methods"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["method"].as_str())
        .collect();
    let expected: Vec<&str> = methods.split(", ").collect();
    check::equals(exchange, "authentication_methods", expected, actual)
}

// The stages of a rotation of the cookie secret run side by side on one
// database (`@needs:cookie-secret-rotation`); these steps send the client's
// next requests to another of them.
#[given("the cookie secret is rotated, a new secret first and the old one after it")]
#[when("the cookie secret is rotated, a new secret first and the old one after it")]
async fn cookie_secret_rotated(world: &mut ConformanceWorld) -> Result<()> {
    world.turn_to_cookie_secret_stage(CookieSecrets::Rotated).await
}

#[when("the old cookie secret is retired, the new one alone left")]
async fn cookie_secret_retired(world: &mut ConformanceWorld) -> Result<()> {
    world.turn_to_cookie_secret_stage(CookieSecrets::Retired).await
}

#[given("the cookie secret is rolling out: replica 1 rotated, the other replicas not yet")]
#[when("the cookie secret is rolling out: replica 1 rotated, the other replicas not yet")]
async fn cookie_secret_rolling_out(world: &mut ConformanceWorld) -> Result<()> {
    world.turn_to_cookie_secret_stage(CookieSecrets::RollingOut).await
}

#[when("its next request goes to an instance not rotated yet, with the old cookie secret alone")]
async fn cookie_secret_not_rotated(world: &mut ConformanceWorld) -> Result<()> {
    world.turn_to_cookie_secret_stage(CookieSecrets::Before).await
}

#[then("whoami refuses the client's session with 403 session_aal2_required, redirecting to the AAL2 login")]
async fn whoami_wants_aal2(world: &mut ConformanceWorld) -> Result<()> {
    world.last = Some(world.client()?.whoami().await?);
    aal2_required(world).await
}

/// What whoami makes of a session that has only the password step behind it,
/// by the deployment's rule: with `highest_available` it refuses it (403
/// `session_aal2_required`), with `aal1` it accepts it at AAL1.
#[then(regex = r"^(?:the client's session still owes its second factor|whoami applies the deployment's AAL rule to the client's session)$")]
async fn still_owes_second_factor(world: &mut ConformanceWorld) -> Result<()> {
    let rule = world.deployment().await?.whoami_required_aal;
    world.last = Some(world.client()?.whoami().await?);
    match rule {
        AalRule::HighestAvailable => aal2_required(world).await,
        AalRule::Aal1 => {
            let whoami = world.last()?;
            check::status(whoami, 200)?;
            session_is(whoami, &whoami.json()?, "aal1", "password")
        }
    }
}

#[then("Kratos answers 403 with the error session_aal2_required, redirecting to the AAL2 login")]
async fn aal2_required(world: &mut ConformanceWorld) -> Result<()> {
    let aal2_login = world.deployment().await?.public("self-service/login/browser?aal=aal2");
    let exchange = world.last()?;
    let error = check::error(exchange, 403, Some("session_aal2_required"))?;
    check::equals(exchange, "redirect_browser_to", Some(aal2_login.as_str()), error.redirect_browser_to())?;
    let details = exchange.json()?.pointer("/error/details/redirect_browser_to").cloned();
    check::equals(exchange, "error.details.redirect_browser_to", Some(serde_json::json!(aal2_login.as_str())), details)
}

#[then("whoami refuses the client's session with 401")]
async fn whoami_no_session(world: &mut ConformanceWorld) -> Result<()> {
    let whoami = world.client()?.whoami().await?;
    let error = check::error(&whoami, 401, None)?;
    check::equals(&whoami, "error.reason", Some("No valid session credentials found in the request."), error.reason())
}

/// `authenticated_at` is the time of the last method, the second factor's step.
#[then(regex = r"^the session was authenticated when the (?:TOTP|recovery code) step completed$")]
async fn authenticated_at_totp(world: &mut ConformanceWorld) -> Result<()> {
    let whoami = world.client()?.whoami().await?;
    let body = whoami.json()?;
    let completed = body["authentication_methods"].as_array().and_then(|m| m.last()).map(|m| m["completed_at"].clone());
    let seconds = |v: Option<&Value>| v.and_then(Value::as_str).map(|t| t.split('.').next().unwrap_or(t).trim_end_matches('Z').to_string());
    check::equals(&whoami, "authenticated_at (to the second)", seconds(completed.as_ref()), seconds(body.get("authenticated_at")))
}

/// A login or registration that ended in a session: the token (native clients
/// only) and, where the step names it, what the client is to do next.
#[then(regex = r"^Kratos answers 200 with a session and (a session token|the same session token|no token)(|, continuing with nothing|, continuing with a redirect to the return URL after login|, continuing with a redirect to the allowed return URL|, continuing with a redirect to where it started the settings flow|, continuing with a redirect to the settings flow's action|, continuing with a redirect to the settings UI showing the flow it started)$")]
async fn answers_with_session(world: &mut ConformanceWorld, token: String, continuing: String) -> Result<()> {
    let exchange = world.last()?.clone();
    check::status(&exchange, 200)?;
    let body = exchange.json()?;
    if body.get("session").is_none_or(Value::is_null) {
        return Err(check::failure(&exchange, "expected a session in the body"));
    }
    let received = body.get("session_token").and_then(Value::as_str);
    match token.as_str() {
        "no token" => check::equals(&exchange, "session_token", None, received)?,
        "the same session token" => {
            let held = world.client()?.session_token.clone();
            check::equals(&exchange, "session_token (the AAL1 session's, upgraded in place)", held.as_deref(), received)?
        }
        _ => check::equals(&exchange, "a session_token starting ory_st_", true, received.is_some_and(|t| t.starts_with("ory_st_")))?,
    }
    let expected = match continuing.trim_start_matches(", continuing with ") {
        "" => None,
        "nothing" => Some(Value::Null),
        "a redirect to the return URL after login" => {
            let method = world.last_method.clone().unwrap_or_else(|| "password".into());
            let url = world.deployment().await?.after_login_url(&method);
            Some(json!([{"action": "redirect_browser_to", "redirect_browser_to": url}]))
        }
        "a redirect to the allowed return URL" => {
            let url = world.return_to.clone().context("the scenario asked for no return URL")?;
            Some(json!([{"action": "redirect_browser_to", "redirect_browser_to": url}]))
        }
        "a redirect to the settings UI showing the flow it started" => {
            let id = world.started_settings.as_ref().context("the client started no settings flow")?.id.clone();
            let url = format!("{}?flow={id}", world.deployment().await?.ui.settings);
            Some(json!([{"action": "redirect_browser_to", "redirect_browser_to": url}]))
        }
        "a redirect to the settings flow's action" => {
            let action = world.started_settings.as_ref().context("the client started no settings flow")?.ui.action.clone();
            Some(json!([{"action": "redirect_browser_to", "redirect_browser_to": action}]))
        }
        "a redirect to where it started the settings flow" => {
            let url = world.settings_start_url.clone().context("the client started no settings flow with a return URL")?;
            Some(json!([{"action": "redirect_browser_to", "redirect_browser_to": url}]))
        }
        other => anyhow::bail!("this step knows no \"continuing with {other}\""),
    };
    if let Some(expected) = expected {
        check::json_field(&exchange, &body, "/continue_with", &expected)?;
    }
    world.client_mut()?.keep_session_token(&exchange);
    Ok(())
}

#[when("it asks for a logout URL")]
async fn asks_logout_url(world: &mut ConformanceWorld) -> Result<()> {
    world.last = Some(world.client()?.logout_url().await?);
    Ok(())
}

#[then("Kratos answers 200 with a logout token and a logout URL")]
async fn logout_token_and_url(world: &mut ConformanceWorld) -> Result<()> {
    let kratos = world.deployment().await?;
    let exchange = world.last()?;
    check::status(exchange, 200)?;
    let body = exchange.json()?;
    let token = body["logout_token"].as_str().unwrap_or_default().to_string();
    crate::redact::register(token.clone());
    check::equals(exchange, "logout_token starts with ory_lo_", true, token.starts_with("ory_lo_"))?;
    let expected = kratos.public(&format!("self-service/logout?token={token}"));
    check::json_field(exchange, &body, "/logout_url", &json!(expected.as_str()))
}

#[when("it follows the logout URL")]
async fn follows_logout_url(world: &mut ConformanceWorld) -> Result<()> {
    let url = world.last()?.json()?["logout_url"].as_str().context("no logout_url")?.to_string();
    world.last = Some(world.client()?.get(&url).await?);
    Ok(())
}

#[when("it logs out with its session token")]
async fn logs_out_with_token(world: &mut ConformanceWorld) -> Result<()> {
    let token = world.client()?.session_token.clone().context("the client holds no session token")?;
    world.last = Some(world.client()?.logout_token(&token).await?);
    Ok(())
}

#[when(expr = "it logs out with the session token {string}")]
async fn logs_out_with_given_token(world: &mut ConformanceWorld, token: String) -> Result<()> {
    world.last = Some(world.client()?.logout_token(&token).await?);
    Ok(())
}

// --- whoami: what it shows, and to whom ---

#[when("it asks whoami")]
async fn asks_whoami(world: &mut ConformanceWorld) -> Result<()> {
    world.last = Some(world.client()?.whoami().await?);
    Ok(())
}

/// The credentials a request presents, as a scenario words them. A token or
/// cookie "Kratos never issued" has the shape of a real one.
fn credentials_from(words: &str, client: &Client) -> Result<Credentials> {
    const FORGED_TOKEN: &str = "ory_st_notatokenkratoseverissued000";
    let own = || client.session_token.clone().context("the client holds no session token");
    let cookie_name = &client.kratos.deployment.session_cookie.name;
    let header = |name: &str, value: String| (name.to_string(), value);
    Ok(match words {
        "nothing" => Credentials::Headers(Vec::new()),
        "a session token Kratos never issued" => Credentials::Headers(vec![header("x-session-token", FORGED_TOKEN.into())]),
        "a bearer token Kratos never issued" => Credentials::Headers(vec![header("authorization", format!("Bearer {FORGED_TOKEN}"))]),
        // A gorilla secure cookie is base64 of "date|value|mac"; this one's MAC is nobody's.
        "a session cookie of its own making" => {
            Credentials::Cookie(format!("{cookie_name}=MTc5NTkwOTQ4MXxub3RhY29va2llfG5vdGFtYWNub3RhbWFjbm90YW1hYw=="))
        }
        "its session token as the session cookie" => Credentials::Cookie(format!("{cookie_name}={}", own()?)),
        "its session token as a bearer token" => Credentials::Headers(vec![header("authorization", format!("Bearer {}", own()?))]),
        "its session token, and a bearer token Kratos never issued" => Credentials::Headers(vec![
            header("x-session-token", own()?),
            header("authorization", format!("Bearer {FORGED_TOKEN}")),
        ]),
        "a session token Kratos never issued, and its session token as a bearer token" => Credentials::Headers(vec![
            header("x-session-token", FORGED_TOKEN.into()),
            header("authorization", format!("Bearer {}", own()?)),
        ]),
        other => anyhow::bail!("this step knows no credentials \"{other}\""),
    })
}

#[when(regex = r"^it asks whoami with (.+)$")]
async fn asks_whoami_with(world: &mut ConformanceWorld, words: String) -> Result<()> {
    let client = world.client()?.clone();
    let credentials = credentials_from(&words, &client)?;
    world.last = Some(client.whoami_as(Method::GET, &credentials).await?);
    Ok(())
}

/// The session of the scenario's identity, active.
#[then("Kratos answers 200 with the client's session")]
async fn answers_with_clients_session(world: &mut ConformanceWorld) -> Result<()> {
    let exchange = world.last()?;
    check::status(exchange, 200)?;
    let body = exchange.json()?;
    check::json_field(exchange, &body, "/active", &json!(true))?;
    check::json_field(exchange, &body, "/identity/id", &json!(world.identity()?.id))
}

/// Whoami is routed for every method; each answers what GET does.
#[then(regex = r"^whoami answers ((?:[A-Z]+, )*[A-Z]+ and [A-Z]+) alike, with the identity's id in X-Kratos-Authenticated-Identity-Id$")]
async fn whoami_every_method(world: &mut ConformanceWorld, methods: String) -> Result<()> {
    let client = world.client()?.clone();
    let identity = world.identity()?.id.clone();
    let mut session = None;
    for name in methods.replace(" and ", ", ").split(", ") {
        let method = Method::from_bytes(name.as_bytes())?;
        let answer = client.whoami_as(method, &Credentials::Own).await?;
        check::status(&answer, 200)?;
        check::equals(&answer, "X-Kratos-Authenticated-Identity-Id", Some(identity.as_str()), answer.header("x-kratos-authenticated-identity-id"))?;
        let id = answer.json()?.get("id").cloned();
        if session.is_none() {
            session = id.clone();
        }
        check::equals(&answer, "the session id (the same for every method)", session.clone(), id)?;
    }
    Ok(())
}

#[then("the session shows the identity's traits and public metadata, without credentials or admin metadata")]
async fn session_identity_shape(world: &mut ConformanceWorld) -> Result<()> {
    let exchange = world.last()?;
    let body = exchange.json()?;
    let identity = world.identity()?;
    check::json_field(exchange, &body, "/identity/traits", &identity.person.traits())?;
    check::json_field(exchange, &body, "/identity/metadata_public", &public_metadata())?;
    for hidden in ["credentials", "metadata_admin"] {
        let present = body.pointer(&format!("/identity/{hidden}")).is_some();
        check::equals(exchange, &format!("identity.{hidden} is shown"), false, present)?;
    }
    // The addresses the schema makes verifiable or recoverable, as Kratos keeps
    // them (lower-cased); none where it makes none.
    let deployment = world.deployment().await?;
    let exchange = world.last()?;
    let identity = world.identity()?;
    let schema = deployment.schema(&identity.schema_id).context("the identity's schema is not the deployment's")?;
    for (field, via) in [("verifiable_addresses", true), ("recovery_addresses", false)] {
        let mut expected: Vec<String> = schema
            .traits
            .iter()
            .filter(|t| if via { t.verification_via.is_some() } else { t.recovery_via.is_some() })
            .filter_map(|t| identity.person.trait_str(&t.path))
            .map(str::to_lowercase)
            .collect();
        let mut shown: Vec<String> = body
            .pointer(&format!("/identity/{field}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| a["value"].as_str().map(str::to_string))
            .collect();
        expected.sort();
        shown.sort();
        check::equals(exchange, &format!("identity.{field}"), expected, shown)?;
    }
    Ok(())
}

/// What the scenario's identity may see of itself, and what only the admin may.
pub(crate) fn public_metadata() -> Value {
    json!({"plan": "team"})
}

pub(crate) fn admin_metadata() -> Value {
    json!({"risk": "reviewed by the fraud team"})
}

/// `Ory-Session-Cache-For` only where the deployment allows caching sessions
/// (`feature_flags.cacheable_sessions`): the seconds the session has left, at
/// most `cacheable_sessions_max_age`.
#[then("whoami's cache header is as the deployment configures it")]
async fn whoami_cache_header(world: &mut ConformanceWorld) -> Result<()> {
    cache_header(world, "they may keep it while the session lasts, up to the configured maximum".into()).await
}

// With `feature_flags.cacheable_sessions`, whoami tells a cache how long it
// may keep its answer (`Ory-Session-Cache-For`, seconds); without, nothing.
#[then(regex = r"^where the deployment lets caches keep whoami's answers, (they may keep it for a minute|they may not keep it|they may keep it while the session lasts, up to the configured maximum)$")]
async fn cache_header(world: &mut ConformanceWorld, rule: String) -> Result<()> {
    let caching = world.deployment().await?.session_caching.clone();
    let exchange = world.last()?;
    let header = exchange.header("ory-session-cache-for");
    if !caching.enabled || rule == "they may not keep it" {
        return check::equals(exchange, "Ory-Session-Cache-For", None, header);
    }
    if rule == "they may keep it for a minute" {
        return check::equals(exchange, "Ory-Session-Cache-For", Some("60"), header);
    }
    let left = session_expiry(exchange)?.duration_since(exchange.at).unwrap_or_default();
    let expected = caching.max_age.filter(|m| !m.is_zero()).map_or(left, |m| m.min(left)).as_secs();
    let actual = header.and_then(|h| h.parse::<u64>().ok());
    check::equals(exchange, "Ory-Session-Cache-For (within a second)", true, actual.is_some_and(|a| a.abs_diff(expected) <= 1))
}

/// A session's `expires_at`, from a whoami answer or a login's `session`.
fn session_expiry(exchange: &Exchange) -> Result<SystemTime> {
    let body = exchange.json()?;
    let field = body.pointer("/expires_at").or_else(|| body.pointer("/session/expires_at")).and_then(Value::as_str);
    field.and_then(|t| humantime::parse_rfc3339(t).ok()).ok_or_else(|| check::failure(exchange, "the answer has no session expires_at"))
}

#[then(regex = r"^(?:the client's|its) session (?:still )?expires the deployment's session lifespan after it was authenticated$")]
async fn session_lifespan(world: &mut ConformanceWorld) -> Result<()> {
    let lifespan = world.deployment().await?.lifespans.session;
    let whoami = world.client()?.whoami().await?;
    check::status(&whoami, 200)?;
    let body = whoami.json()?;
    let at = |field: &str| body.get(field).and_then(Value::as_str).and_then(|t| humantime::parse_rfc3339(t).ok());
    let lasts = at("authenticated_at").zip(at("expires_at")).and_then(|(a, e)| e.duration_since(a).ok());
    check::equals(&whoami, "expires_at - authenticated_at", Some(lifespan), lasts)
}

/// The session cookie as the deployment configures it, whose `Max-Age` counts
/// down to the session's `expires_at` (from the answer, or from whoami where
/// the answer shows no session) and whose `Expires` is that instant, as Go
/// writes it (the `Max-Age` after the answer, so up to two seconds before).
#[then("it sets the session cookie as the deployment configures it, expiring with the session")]
async fn session_cookie_expiring(world: &mut ConformanceWorld) -> Result<()> {
    let deployment = world.deployment().await?;
    let exchange = world.last()?.clone();
    let expires_at = match session_expiry(&exchange) {
        Ok(at) => at,
        Err(_) => {
            let cookie = check::set_cookie(&exchange, &deployment.session_cookie.name)?;
            let value = cookie.split(';').next().unwrap_or_default().to_string();
            let whoami = world.client()?.whoami_as(Method::GET, &Credentials::Cookie(value)).await?;
            check::status(&whoami, 200)?;
            session_expiry(&whoami)?
        }
    };
    let sent = exchange.at;
    let answered = exchange.at + exchange.elapsed;
    let high = expires_at.duration_since(sent).unwrap_or_default().as_secs();
    let low = expires_at.duration_since(answered).unwrap_or_default().as_secs().saturating_sub(1);
    let cookie = check::set_cookie(&exchange, &deployment.session_cookie.name)?;
    check::cookie_attributes(&exchange, &cookie, &deployment.session_cookie_attributes_lasting(low, high))?;
    if deployment.session_cookie.persistent {
        let expires = cookie.split("; ").find_map(|a| a.strip_prefix("Expires=")).and_then(|d| httpdate::parse_http_date(d).ok());
        // Go writes `Expires` as the moment of writing plus the whole seconds of
        // `Max-Age`, to the second: up to two seconds before `expires_at`, and
        // (a write a moment after a second's end) at most one after.
        let window = expires_at.checked_sub(Duration::from_secs(2)).unwrap_or(expires_at)..=expires_at + Duration::from_secs(1);
        check::equals(&exchange, "the cookie's Expires is the session's expires_at (to two seconds)", true, expires.is_some_and(|e| window.contains(&e)))?;
    }
    Ok(())
}

// --- the admin API extends a session ---

/// The client's session id, as whoami reports it.
async fn session_id_of(client: &Client) -> Result<String> {
    let whoami = client.whoami().await?;
    check::status(&whoami, 200)?;
    whoami.json()?.get("id").and_then(Value::as_str).map(str::to_string).ok_or_else(|| check::failure(&whoami, "the session has no id"))
}

#[when("the admin API extends the client's session")]
async fn admin_extends(world: &mut ConformanceWorld) -> Result<()> {
    let whoami = world.client()?.whoami().await?;
    check::status(&whoami, 200)?;
    let id = whoami.json()?.get("id").and_then(Value::as_str).map(str::to_string).ok_or_else(|| check::failure(&whoami, "the session has no id"))?;
    world.expiry_before_extension = Some(session_expiry(&whoami)?);
    world.last = Some(world.admin().await?.extend_session(&id).await?);
    Ok(())
}

#[when(expr = "the admin API extends the session {string}")]
async fn admin_extends_id(world: &mut ConformanceWorld, id: String) -> Result<()> {
    world.last = Some(world.admin().await?.extend_session(&id).await?);
    Ok(())
}

/// `feature_flags.faster_session_extend`: 204; otherwise (Kratos' default up to
/// v26.2.0) 200 with the session, now expiring a whole lifespan after the call
/// where `session.earliest_possible_extend` lets Kratos extend it
/// ([`crate::deployment::Deployment::extends_session`]), else as it was.
#[then(regex = r"^Kratos answers as the deployment configures the extension, (expiring the session lifespan from now|leaving the session's expiry as it was)$")]
async fn extension_answer(world: &mut ConformanceWorld, expected: String) -> Result<()> {
    let deployment = world.deployment().await?;
    let exchange = world.last()?;
    let before = world.expiry_before_extension.context("the session's expiry was not read before the extension")?;
    let extends = deployment.extends_session(before, exchange.at);
    let described = |extends: bool| if extends { "extends it" } else { "leaves it as it was" };
    let wanted = expected.starts_with("expiring");
    if extends != wanted {
        return Err(check::failure(
            exchange,
            format!(
                "the scenario expects that Kratos {}, and the deployment {}: the session expired at {} and session.earliest_possible_extend is {:?} (session.lifespan {:?})",
                described(wanted),
                described(extends),
                humantime::format_rfc3339_seconds(before),
                deployment.earliest_possible_extend,
                deployment.lifespans.session
            ),
        ));
    }
    if deployment.faster_session_extend {
        return check::status(exchange, 204);
    }
    check::status(exchange, 200)?;
    let expires_at = session_expiry(exchange)?;
    if !extends {
        let drift = expires_at.duration_since(before).or_else(|e| Ok::<_, anyhow::Error>(e.duration())).unwrap_or_default();
        return check::equals(exchange, "expires_at is what it was before the extension (to the second)", true, drift < Duration::from_secs(1));
    }
    let lifespan = deployment.lifespans.session;
    let window = exchange.at + lifespan..=exchange.at + exchange.elapsed + lifespan;
    check::equals(exchange, "expires_at is the session lifespan after the call", true, window.contains(&expires_at))
}

#[when(regex = r"^it asks the public API to extend its session at the (admin API's|session's) path$")]
async fn public_extend(world: &mut ConformanceWorld, path: String) -> Result<()> {
    let client = world.client()?.clone();
    let id = session_id_of(&client).await?;
    let path = if path == "admin API's" { format!("admin/sessions/{id}/extend") } else { format!("sessions/{id}/extend") };
    world.last = Some(client.send_json(Method::PATCH, client.kratos.public(&path)).await?);
    Ok(())
}

// --- credentials kept, and sessions that have ended ---

/// Browsers and SPAs keep the `Cookie` header their jar sends now, native apps
/// their session token.
#[when("it keeps the credentials it holds")]
async fn keeps_credentials(world: &mut ConformanceWorld) -> Result<()> {
    let client = world.client()?;
    let kept = match client.kind {
        ClientKind::Native => Credentials::Headers(vec![(
            "x-session-token".into(),
            client.session_token.clone().context("the client holds no session token")?,
        )]),
        _ => Credentials::Cookie(client.cookie_header().context("the client holds no cookies")?),
    };
    world.kept_credentials = Some(kept);
    Ok(())
}

fn kept(world: &ConformanceWorld) -> Result<Credentials> {
    world.kept_credentials.clone().context("the client kept no credentials: add \"When it keeps the credentials it holds\"")
}

/// The kept credentials as headers of a self-service request (a native app's
/// token is sent anyway).
pub(crate) fn kept_headers(world: &ConformanceWorld) -> Result<Vec<(String, String)>> {
    Ok(match kept(world)? {
        Credentials::Cookie(cookie) => vec![("cookie".to_string(), cookie)],
        _ => Vec::new(),
    })
}

#[then("whoami refuses the credentials it kept with 401")]
async fn whoami_refuses_kept(world: &mut ConformanceWorld) -> Result<()> {
    let whoami = world.client()?.whoami_as(Method::GET, &kept(world)?).await?;
    let error = check::error(&whoami, 401, None)?;
    check::equals(&whoami, "error.reason", Some("No valid session credentials found in the request."), error.reason())
}

/// Waits until the session has ended by what the suite knows: the password
/// step's answer plus the deployment's session lifespan (and a moment).
#[when("the session has ended")]
async fn session_ended(world: &mut ConformanceWorld) -> Result<()> {
    let deadline = world.session_deadline.context("the scenario knows no session that could end")?;
    super::settings::wait_until(deadline + Duration::from_millis(200)).await;
    Ok(())
}

// --- the session API: other sessions ---

#[given(regex = r"^(the|another) identity is signed in on another device( with the password and the TOTP code)?$")]
async fn signed_in_elsewhere(world: &mut ConformanceWorld, whose: String, totp: String) -> Result<()> {
    let person = if whose == "the" {
        world.identity()?.person.clone()
    } else {
        let pending = std::mem::take(&mut world.pending_addresses);
        let other = world.create_identity(None).await?;
        world.pending_addresses = pending;
        other.person
    };
    let mut device = world.new_client(ClientKind::Native).await?;
    device.password_step(&world.identifier_of(&person)?, &person.password).await?;
    if !totp.is_empty() {
        let code = world.authenticator()?.late_code(0, None);
        device.second_factor(json!({"method": "totp"}), vec![("totp_code".into(), code)]).await?;
    }
    world.other_device = Some(device);
    Ok(())
}

/// The app that enrolled the second factor is one of the identity's sessions too.
#[given("the device that paired the app is still signed in, at AAL2")]
async fn enrollment_device_signed_in(world: &mut ConformanceWorld) -> Result<()> {
    let device = world.enrollment_device.clone().context("no device enrolled a second factor")?;
    let whoami = device.whoami().await?;
    check::status(&whoami, 200)?;
    check::json_field(&whoami, &whoami.json()?, "/authenticator_assurance_level", &json!("aal2"))?;
    world.other_device = Some(device);
    Ok(())
}

fn other_device(world: &ConformanceWorld) -> Result<Client> {
    world.other_device.clone().context("no other device is signed in")
}

#[when("it lists its other sessions")]
async fn lists_sessions(world: &mut ConformanceWorld) -> Result<()> {
    world.last = Some(world.client()?.list_other_sessions().await?);
    Ok(())
}

#[when("it ends its other sessions")]
async fn ends_other_sessions(world: &mut ConformanceWorld) -> Result<()> {
    world.last = Some(world.client()?.revoke_other_sessions().await?);
    Ok(())
}

#[when(regex = r"^it ends (its own|the other device's) session by its id$")]
async fn ends_session_by_id(world: &mut ConformanceWorld, whose: String) -> Result<()> {
    let owner = if whose == "its own" { world.client()?.clone() } else { other_device(world)? };
    let id = session_id_of(&owner).await?;
    world.last = Some(world.client()?.revoke_session(&id).await?);
    Ok(())
}

#[when(expr = "it ends the session {string}")]
async fn ends_session(world: &mut ConformanceWorld, id: String) -> Result<()> {
    world.last = Some(world.client()?.revoke_session(&id).await?);
    Ok(())
}

/// The list holds the other device's session and nothing else; the headers
/// count it and link to the first page.
#[then(expr = "Kratos answers 200 with the other device's session alone, and a count of {int}")]
async fn lists_other_device(world: &mut ConformanceWorld, count: usize) -> Result<()> {
    let expected = session_id_of(&other_device(world)?).await?;
    let exchange = world.last()?;
    check::status(exchange, 200)?;
    let body = exchange.json()?;
    let ids: Vec<&str> = body.as_array().into_iter().flatten().filter_map(|s| s["id"].as_str()).collect();
    check::equals(exchange, "the listed session ids", vec![expected.as_str()], ids)?;
    check::equals(exchange, "X-Total-Count", Some(count.to_string()).as_deref(), exchange.header("x-total-count"))?;
    let first_page = format!("</sessions?page=0&page_size={count}&page_token=eyJvZmZzZXQiOiIwIiwidiI6Mn0&per_page={count}>; rel=\"first\"");
    check::equals(exchange, "Link", Some(first_page.as_str()), exchange.header("link"))
}

#[then("no listed session shows the identity's credentials")]
async fn listed_without_credentials(world: &mut ConformanceWorld) -> Result<()> {
    let exchange = world.last()?;
    let body = exchange.json()?;
    let leaking = body.as_array().into_iter().flatten().filter(|s| s.pointer("/identity/credentials").is_some()).count();
    check::equals(exchange, "listed sessions whose identity shows its credentials", 0, leaking)
}

#[then(regex = r"^whoami (refuses the other device's session with 401|still accepts the other device's session)$")]
async fn other_device_whoami(world: &mut ConformanceWorld, verdict: String) -> Result<()> {
    let whoami = other_device(world)?.whoami().await?;
    if verdict.starts_with("refuses") {
        check::error(&whoami, 401, None).map(|_| ())
    } else {
        check::status(&whoami, 200)
    }
}

// --- logout URLs ---

#[when(regex = r"^it asks for a logout URL returning to (an allowed return URL|a return URL that is not allowed)$")]
async fn asks_logout_url_returning(world: &mut ConformanceWorld, which: String) -> Result<()> {
    let deployment = world.deployment().await?;
    let url = if which.starts_with("an allowed") {
        deployment.allowed_return_url().context("the deployment allows no return URL")?
    } else {
        deployment.disallowed_return_url().map_err(|e| anyhow::anyhow!("{e}"))?
    };
    world.return_to = Some(url.clone());
    world.last = Some(world.client()?.logout_url_returning(&url).await?);
    Ok(())
}

#[then("Kratos answers 200 with a logout token and a logout URL returning to it")]
async fn logout_url_returning(world: &mut ConformanceWorld) -> Result<()> {
    let kratos = world.deployment().await?;
    let return_to = world.return_to.clone().context("the scenario asked for no return URL")?;
    let exchange = world.last()?;
    check::status(exchange, 200)?;
    let body = exchange.json()?;
    let token = body["logout_token"].as_str().unwrap_or_default().to_string();
    crate::redact::register(token.clone());
    check::equals(exchange, "logout_token starts with ory_lo_", true, token.starts_with("ory_lo_"))?;
    let mut expected = kratos.public("self-service/logout");
    expected.query_pairs_mut().append_pair("return_to", &return_to).append_pair("token", &token);
    check::json_field(exchange, &body, "/logout_url", &json!(expected.as_str()))
}

/// Another browser of the same identity, at AAL2, is sent the scenario
/// client's logout URL (a link in a message, say).
#[when("another browser of the identity, signed in with the password and the TOTP code, follows that logout URL")]
async fn other_browser_follows_logout(world: &mut ConformanceWorld) -> Result<()> {
    let url = world.last()?.json()?["logout_url"].as_str().context("no logout_url")?.to_string();
    let mut browser = world.new_client(ClientKind::Browser).await?;
    let person = world.identity()?.person.clone();
    browser.password_step(&world.identifier_of(&person)?, &person.password).await?;
    let code = world.authenticator()?.late_code(0, None);
    browser.second_factor(json!({"method": "totp"}), vec![("totp_code".into(), code)]).await?;
    world.last = Some(browser.get(&url).await?);
    world.other_device = Some(browser);
    Ok(())
}

// --- sessions kept across a refresh login ---

/// The session behind the client's credentials now, and behind the ones it
/// kept: the same session (id and identity).
#[then(regex = r#"^the client has the session it kept, at "(aal\d)" with the methods "(.*)"$"#)]
async fn has_kept_session(world: &mut ConformanceWorld, aal: String, methods: String) -> Result<()> {
    let client = world.client()?.clone();
    let now = client.whoami().await?;
    check::status(&now, 200)?;
    let before = client.whoami_as(Method::GET, &kept(world)?).await?;
    check::status(&before, 200)?;
    let body = now.json()?;
    check::equals(&now, "the session id (the kept credentials')", before.json()?.get("id").cloned(), body.get("id").cloned())?;
    session_is(&now, &body, &aal, &methods)
}

#[then("the session cookie it holds is not the one it kept")]
async fn cookie_changed(world: &mut ConformanceWorld) -> Result<()> {
    let name = world.deployment().await?.session_cookie.name.clone();
    let value_in = |header: &str| header.split("; ").find_map(|c| c.strip_prefix(&format!("{name}="))).map(str::to_string);
    let Credentials::Cookie(kept) = kept(world)? else { anyhow::bail!("the client kept no cookie") };
    let held = world.client()?.cookie_header().unwrap_or_default();
    let exchange = world.last()?;
    let (before, now) = (value_in(&kept), value_in(&held));
    check::equals(exchange, "a session cookie is held", true, now.is_some())?;
    check::equals(exchange, "the session cookie is a new one", true, before != now)
}

#[then("it holds the session token it kept")]
async fn token_kept(world: &mut ConformanceWorld) -> Result<()> {
    let Credentials::Headers(kept) = kept(world)? else { anyhow::bail!("the client kept no token") };
    let held = world.client()?.session_token.clone();
    let exchange = world.last()?;
    check::equals(exchange, "the session token", kept.first().map(|(_, v)| v.clone()), held)
}

/// The client is signed in as the other identity, in a session that is not
/// the one it kept.
#[then("the client has a new session, of the other identity")]
async fn new_session_of_other(world: &mut ConformanceWorld) -> Result<()> {
    let other = world.other_identity.clone().context("no other identity signed in")?;
    let client = world.client()?.clone();
    let now = client.whoami().await?;
    check::status(&now, 200)?;
    let body = now.json()?;
    check::json_field(&now, &body, "/identity/id", &json!(other.id))?;
    let before = client.whoami_as(Method::GET, &kept(world)?).await?;
    let before_id = before.json().ok().and_then(|b| b.get("id").cloned());
    check::equals(&now, "a session id other than the kept one", true, before_id != body.get("id").cloned())
}

#[then("whoami still accepts the credentials it kept, as the first identity")]
async fn kept_still_first(world: &mut ConformanceWorld) -> Result<()> {
    let whoami = world.client()?.whoami_as(Method::GET, &kept(world)?).await?;
    check::status(&whoami, 200)?;
    check::json_field(&whoami, &whoami.json()?, "/identity/id", &json!(world.identity()?.id))
}

#[then(regex = r#"^whoami accepts the credentials it kept, at "(aal\d)" with the methods "(.*)"$"#)]
async fn kept_accepted_at(world: &mut ConformanceWorld, aal: String, methods: String) -> Result<()> {
    let whoami = world.client()?.whoami_as(Method::GET, &kept(world)?).await?;
    check::status(&whoami, 200)?;
    session_is(&whoami, &whoami.json()?, &aal, &methods)
}
