//! Sessions: what `/sessions/whoami` and successful logins say about them.

use anyhow::{Context, Result};
use cucumber::{then, when};
use kratos_conformance::check;
use kratos_conformance::client::{ClientKind, Exchange, FlowKind};
use kratos_conformance::deployment::AalRule;
use kratos_conformance::ConformanceWorld;
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

fn session_is(exchange: &Exchange, session: &Value, aal: &str, methods: &str) -> Result<()> {
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

/// `authenticated_at` is the time of the last method, the TOTP step.
#[then("the session was authenticated when the TOTP step completed")]
async fn authenticated_at_totp(world: &mut ConformanceWorld) -> Result<()> {
    let whoami = world.client()?.whoami().await?;
    let body = whoami.json()?;
    let completed = body["authentication_methods"].as_array().and_then(|m| m.last()).map(|m| m["completed_at"].clone());
    let seconds = |v: Option<&Value>| v.and_then(Value::as_str).map(|t| t.split('.').next().unwrap_or(t).trim_end_matches('Z').to_string());
    check::equals(&whoami, "authenticated_at (to the second)", seconds(completed.as_ref()), seconds(body.get("authenticated_at")))
}

/// A login or registration that ended in a session: the token (native clients
/// only) and, where the step names it, what the client is to do next.
#[then(regex = r"^Kratos answers 200 with a session and (a session token|the same session token|no token)(|, continuing with nothing|, continuing with a redirect to the return URL after login|, continuing with a redirect to the allowed return URL)$")]
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
    kratos_conformance::redact::register(token.clone());
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
