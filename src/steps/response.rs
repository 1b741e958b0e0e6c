//! What Kratos answers: status, redirect, error or flow. Each `Then Kratos answers
//! ...` phrase is one exact expectation on the wire; where the answer carries a
//! flow, the step also makes it the scenario's current flow.

use anyhow::{Context, Result};
use cucumber::then;
use crate::check;
use crate::client::{Flow, FlowKind, KratosError};
use crate::ConformanceWorld;
use serde_json::{Value, json};

#[then(expr = "Kratos answers {int}")]
async fn answers(world: &mut ConformanceWorld, status: u16) -> Result<()> {
    check::status(world.last()?, status)
}

/// Kratos names its CSRF cookie `csrf_token_` + the SHA-256 (hex) of its public
/// base URL; its path, domain and SameSite come from `cookies.*` (always `Lax`
/// under `--dev`), its Max-Age is a year, and it is `HttpOnly` (and `Secure`
/// outside `--dev`).
#[then("it sets the CSRF cookie as the deployment configures it")]
async fn sets_csrf_cookie(world: &mut ConformanceWorld) -> Result<()> {
    let deployment = world.deployment().await?;
    let exchange = world.last()?;
    let cookie = check::set_cookie(exchange, &deployment.csrf_cookie.name)?;
    check::cookie_attributes(exchange, &cookie, &deployment.csrf_cookie_attributes())
}

#[then("Kratos sets no cookie")]
async fn sets_no_cookie(world: &mut ConformanceWorld) -> Result<()> {
    check::no_cookies_set(world.last()?)
}

#[then(regex = r"^Kratos answers 303 to the (login|settings|registration) UI$")]
async fn redirect_to_ui(world: &mut ConformanceWorld, kind: String) -> Result<()> {
    let kind = flow_kind(&kind);
    let id = redirect_to_ui_with_flow(world, kind).await?;
    // The flow the client submitted to: the one its ui.action names (after a
    // settings change Kratos names a new flow there).
    if let Some(current) = world.flow.as_ref().filter(|_| world.flow_kind == Some(kind)) {
        let submitted_to = crate::client::flow_id_in(&current.ui.action).unwrap_or_else(|| current.id.clone());
        check::equals(world.last()?, "the flow id in Location", submitted_to.as_str(), id.as_str())?;
    }
    load_flow_by_id(world, kind, &id).await
}

#[then(regex = r"^Kratos answers 303 to the (login|settings|recovery) UI with a new flow and the message (\d+)$")]
async fn redirect_to_new_flow(world: &mut ConformanceWorld, kind: String, message: u64) -> Result<()> {
    let kind = flow_kind(&kind);
    let id = redirect_to_ui_with_flow(world, kind).await?;
    let old = world.flow()?.id.clone();
    if id == old {
        return Err(check::failure(world.last()?, "expected a new flow, got the expired one"));
    }
    load_flow_by_id(world, kind, &id).await?;
    let exchange = world.transcript.last().context("the flow was fetched")?;
    check::message_ids(&exchange, "ui.messages", &world.flow()?.ui.messages, &[message])
}

#[then("Kratos answers 303 to the error UI")]
async fn redirect_to_error_ui(world: &mut ConformanceWorld) -> Result<()> {
    error_ui_id(world).await.map(|_| ())
}

/// An error Kratos gives no id (a disabled endpoint's 404): its reason.
#[then(expr = "Kratos answers 303 to the error UI for an error without id, whose reason is {string}")]
async fn redirect_to_error_ui_because(world: &mut ConformanceWorld, reason: String) -> Result<()> {
    let (fetched, error) = error_the_ui_shows(world).await?;
    check::equals(&fetched, "error.id", None, error.id())?;
    check::equals(&fetched, "error.reason", Some(reason.as_str()), error.reason())
}

#[then(expr = "Kratos answers 303 to the error UI for {word}")]
async fn redirect_to_error_ui_for(world: &mut ConformanceWorld, error_id: String) -> Result<()> {
    let (fetched, error) = error_the_ui_shows(world).await?;
    check::equals(&fetched, "error.id", Some(error_id.as_str()), error.id())
}

#[then(expr = "Kratos answers 303 to the error UI for {word}, because {string}")]
async fn redirect_to_error_ui_for_because(world: &mut ConformanceWorld, error_id: String, reason: String) -> Result<()> {
    let (fetched, error) = error_the_ui_shows(world).await?;
    check::equals(&fetched, "error.id", Some(error_id.as_str()), error.id())?;
    check::equals(&fetched, "error.reason", Some(reason.as_str()), error.reason())
}

/// The error UI fetches the error by the id in `Location`, as the login UI
/// fetches flows: the exchange of that fetch and the error it returned.
async fn error_the_ui_shows(world: &mut ConformanceWorld) -> Result<(crate::client::Exchange, KratosError)> {
    let id = error_ui_id(world).await?;
    let client = world.client()?.clone();
    let mut url = client.kratos.public("self-service/errors");
    url.query_pairs_mut().append_pair("id", &id);
    let request = client.request(reqwest::Method::GET, url, crate::client::Body::Empty);
    let fetched = client.http.send(request).await?;
    check::status(&fetched, 200)?;
    let body = fetched.json()?;
    check::json_field(&fetched, &body, "/id", &json!(id))?;
    let error = KratosError::from_json(&body).ok_or_else(|| check::failure(&fetched, "expected an error body {\"error\": ...}"))?;
    Ok((fetched, error))
}

/// `selfservice.default_browser_return_url`: where a browser that needs no
/// flow is sent.
#[then("Kratos answers 303 to the default return URL")]
async fn redirect_to_default_return(world: &mut ConformanceWorld) -> Result<()> {
    let expected = world.deployment().await?.return_urls.default.clone();
    redirect_to(world, &expected)
}

/// Where the deployment sends a browser after a login that ended with the
/// method the scenario submitted last (`login.after.<method>...`, then the default).
#[then("Kratos answers 303 to the return URL after login")]
async fn redirect_after_login(world: &mut ConformanceWorld) -> Result<()> {
    let method = world.last_method.clone().unwrap_or_else(|| "password".into());
    let expected = world.deployment().await?.after_login_url(&method);
    redirect_to(world, &expected)
}

#[then("Kratos answers 303 to the logout return URL")]
async fn redirect_after_logout(world: &mut ConformanceWorld) -> Result<()> {
    let expected = world.deployment().await?.return_urls.after_logout.clone();
    redirect_to(world, &expected)
}

#[then("Kratos answers 303 to the allowed return URL")]
async fn redirect_to_allowed(world: &mut ConformanceWorld) -> Result<()> {
    let expected = world.return_to.clone().context("the scenario asked for no return URL")?;
    redirect_to(world, &expected)
}

#[then(expr = "Kratos answers 303 to {string} on the public API")]
async fn redirect_to_public(world: &mut ConformanceWorld, path: String) -> Result<()> {
    let expected = world.deployment().await?.public(&path);
    redirect_to(world, expected.as_str())
}

/// The AAL2 login, with the `return_to` the first flow had.
#[then("Kratos answers 303 to the AAL2 login on the public API, keeping the return URL")]
async fn redirect_to_aal2_keeping_return(world: &mut ConformanceWorld) -> Result<()> {
    let return_to = world.return_to.clone().context("the scenario asked for no return URL")?;
    let mut expected = world.deployment().await?.public("self-service/login/browser");
    expected.query_pairs_mut().append_pair("aal", "aal2").append_pair("return_to", &return_to);
    redirect_to(world, expected.as_str())
}

fn redirect_to(world: &ConformanceWorld, expected: &str) -> Result<()> {
    let exchange = world.last()?;
    check::status(exchange, 303)?;
    check::equals(exchange, "Location", Some(expected), exchange.location())
}

#[then(regex = r"^Kratos answers (200|400) with the flow$")]
async fn answers_with_flow(world: &mut ConformanceWorld, status: u16) -> Result<()> {
    let exchange = world.last()?.clone();
    check::status(&exchange, status)?;
    world.flow = Some(Flow::from_json(exchange.json()?).map_err(|e| check::failure(&exchange, e))?);
    world.read_offered_totp_secret()
}

/// A successful settings submit sends a browser to the page after settings:
/// the settings UI showing the flow, or the deployment's return URL after
/// settings (`settings.after[.<method>].default_browser_return_url`). The
/// flow, fetched by its id, is then what the UI would show.
#[then("Kratos answers 303 to the page after settings")]
async fn redirect_after_settings(world: &mut ConformanceWorld) -> Result<()> {
    let method = world.last_method.clone().unwrap_or_else(|| "totp".into());
    // The flow submitted to: the one the form's action names.
    let flow = world.flow()?;
    let id = crate::client::flow_id_in(&flow.ui.action).unwrap_or_else(|| flow.id.clone());
    let expected = world.deployment().await?.after_settings_url(&method, &id);
    redirect_to(world, &expected)?;
    load_flow_by_id(world, FlowKind::Settings, &id).await
}

/// A settings flow that succeeded tells an SPA where to send the browser next
/// (the page after settings), after the verification of any address still
/// pending (where the deployment verifies and says so).
#[then(regex = r"^Kratos answers 200 with the flow, continuing with a redirect to (the page after settings|the allowed return URL)$")]
async fn flow_continuing_with_redirect(world: &mut ConformanceWorld, to: String) -> Result<()> {
    answers_with_flow(world, 200).await?;
    let deployment = world.deployment().await?;
    let method = world.last_method.clone().unwrap_or_else(|| "totp".into());
    let flow = world.flow()?.clone();
    let mut expected = settings_verification(world, &flow.raw, true).await?;
    let target = match to.as_str() {
        "the allowed return URL" => world.return_to.clone().context("the scenario asked for no return URL")?,
        _ => deployment.after_settings_url(&method, &flow.id),
    };
    expected.push(json!({"action": "redirect_browser_to", "redirect_browser_to": target}));
    check::json_field(world.last()?, &flow.raw, "/continue_with", &Value::Array(expected))
}

/// Nothing for a native app to do next, but the verification of any address
/// still pending (where the deployment verifies addresses).
#[then("Kratos answers 200 with the flow, continuing with nothing")]
async fn flow_continuing_with_nothing(world: &mut ConformanceWorld) -> Result<()> {
    answers_with_flow(world, 200).await?;
    let flow = world.flow()?.clone();
    let expected = settings_verification(world, &flow.raw, false).await?;
    let exchange = world.last()?;
    if expected.is_empty() {
        check::equals(exchange, "continue_with", None, flow.raw.get("continue_with"))
    } else {
        check::json_field(exchange, &flow.raw, "/continue_with", &Value::Array(expected))
    }
}

/// The `show_verification_ui` items a successful settings submit carries: one
/// per address Kratos has not sent a verification for yet. Their flow ids are
/// Kratos' own, taken from the answer. The addresses are pending no longer.
async fn settings_verification(world: &mut ConformanceWorld, flow: &Value, with_url: bool) -> Result<Vec<Value>> {
    let deployment = world.deployment().await?;
    if flow.get("state").and_then(Value::as_str) != Some("success") {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = flow
        .get("continue_with")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|item| item["action"] == "show_verification_ui")
        .filter_map(|item| item.pointer("/flow/id").and_then(Value::as_str).map(str::to_string))
        .collect();
    let pending = std::mem::take(&mut world.pending_addresses);
    let method = world.last_method.clone().unwrap_or_else(|| "totp".into());
    Ok(deployment.verification_items(&pending, &ids, with_url, Some(&method)))
}

#[then(expr = "Kratos answers {int} with the error {word}")]
async fn answers_with_error(world: &mut ConformanceWorld, status: u16, id: String) -> Result<()> {
    check::error(world.last()?, status, Some(&id)).map(|_| ())
}

#[then(expr = "Kratos answers {int} with the error {word}, because {string}")]
async fn answers_with_error_because(world: &mut ConformanceWorld, status: u16, id: String, reason: String) -> Result<()> {
    let exchange = world.last()?;
    let error = check::error(exchange, status, Some(&id))?;
    check::equals(exchange, "error.reason", Some(reason.as_str()), error.reason())
}

#[then(expr = "Kratos answers {int} with an error without id")]
async fn answers_with_anonymous_error(world: &mut ConformanceWorld, status: u16) -> Result<()> {
    check::error(world.last()?, status, None).map(|_| ())
}

#[then(expr = "Kratos answers {int} with an error without id, whose message is {string}")]
async fn anonymous_error_message(world: &mut ConformanceWorld, status: u16, message: String) -> Result<()> {
    let exchange = world.last()?;
    let error = check::error(exchange, status, None)?;
    check::equals(exchange, "error.message", Some(message.as_str()), error.message())
}

#[then(expr = "Kratos answers {int} with an error without id, whose reason is {string}")]
async fn anonymous_error_reason(world: &mut ConformanceWorld, status: u16, reason: String) -> Result<()> {
    let exchange = world.last()?;
    let error = check::error(exchange, status, None)?;
    check::equals(exchange, "error.reason", Some(reason.as_str()), error.reason())
}

#[then(expr = "the error's reason is {string}")]
async fn error_reason(world: &mut ConformanceWorld, reason: String) -> Result<()> {
    let exchange = world.last()?;
    let body = exchange.json()?;
    let error = KratosError::from_json(&body).ok_or_else(|| check::failure(exchange, "expected an error body"))?;
    check::equals(exchange, "error.reason", Some(reason.as_str()), error.reason())
}

/// An expired flow's error names the flow that replaces it (`use_flow_id`).
#[then("Kratos answers 410 with the error self_service_flow_expired and a new flow id")]
async fn expired_with_new_flow(world: &mut ConformanceWorld) -> Result<()> {
    let exchange = world.last()?;
    check::error(exchange, 410, Some("self_service_flow_expired"))?;
    let body = exchange.json()?;
    let new_id = body.get("use_flow_id").and_then(Value::as_str).unwrap_or_default();
    if new_id.is_empty() || new_id == world.flow()?.id {
        return Err(check::failure(exchange, format!("expected use_flow_id to name a new flow, got {:?}", body.get("use_flow_id"))));
    }
    Ok(())
}

pub(crate) fn flow_kind(word: &str) -> FlowKind {
    match word {
        "login" => FlowKind::Login,
        "settings" => FlowKind::Settings,
        "recovery" => FlowKind::Recovery,
        _ => FlowKind::Registration,
    }
}

/// 303 to `<kind>.ui_url?flow=<id>`; the id.
async fn redirect_to_ui_with_flow(world: &mut ConformanceWorld, kind: FlowKind) -> Result<String> {
    let deployment = world.deployment().await?;
    let ui = deployment.ui_url(kind.path()).to_string();
    let exchange = world.last()?;
    check::status(exchange, 303)?;
    match check::location_is_ui_with_flow(exchange, &ui) {
        Ok(flow) => Ok(flow),
        // Sent to the error UI instead: what Kratos says there is the reason.
        Err(e) => match error_behind_redirect(world, &deployment.ui.error).await {
            Some(reason) => Err(e.context(format!("Kratos sent the browser to the error UI instead: {reason}"))),
            None => Err(e),
        },
    }
}

/// Where the last answer is a redirect to the error UI (`?id=`), the error as
/// `/self-service/errors` gives it: its id, reason and message, in one line.
async fn error_behind_redirect(world: &ConformanceWorld, error_ui: &str) -> Option<String> {
    let location = world.last.as_ref()?.location()?;
    let url = url::Url::parse(location).ok()?;
    let mut bare = url.clone();
    bare.set_query(None);
    if bare.as_str() != error_ui {
        return None;
    }
    let id = url.query_pairs().find(|(k, _)| k == "id").map(|(_, v)| v.into_owned())?;
    let client = world.client.as_ref()?;
    let mut errors = client.kratos.public("self-service/errors");
    errors.query_pairs_mut().append_pair("id", &id);
    let fetched = client.http.send(client.request(reqwest::Method::GET, errors, crate::client::Body::Empty)).await.ok()?;
    let error = fetched.json().ok()?.get("error").cloned()?;
    let field = |name: &str| error.get(name).and_then(|v| v.as_str()).map(str::to_string);
    let said: Vec<String> = [field("id"), field("reason"), field("message")].into_iter().flatten().collect();
    Some(said.join(": "))
}

/// The UI's part after a redirect: fetch the flow by id and make it current.
/// A settings flow that shows success has sent any pending verification.
pub(crate) async fn load_flow_by_id(world: &mut ConformanceWorld, kind: FlowKind, id: &str) -> Result<()> {
    let fetched = world.client()?.fetch_flow(kind, id).await?;
    check::status(&fetched, 200)?;
    let flow = Flow::from_json(fetched.json()?).map_err(|e| check::failure(&fetched, e))?;
    if kind == FlowKind::Settings && flow.str_field("state") == Some("success") {
        world.pending_addresses.clear();
    }
    world.flow = Some(flow);
    world.flow_kind = Some(kind);
    world.read_offered_totp_secret()
}

async fn error_ui_id(world: &mut ConformanceWorld) -> Result<String> {
    let ui = world.deployment().await?.ui.error.clone();
    let exchange = world.last()?;
    check::status(exchange, 303)?;
    let location = check::location(exchange)?;
    let url = url::Url::parse(location)?;
    let id = url.query_pairs().find(|(k, _)| k == "id").map(|(_, v)| v.into_owned());
    let mut bare = url.clone();
    bare.set_query(None);
    match id {
        Some(id) if bare.as_str() == ui => Ok(id),
        _ => Err(check::failure(exchange, format!("expected a redirect to {ui}?id=<error id>, got {location}"))),
    }
}

/// The session cookie's name, path, domain, SameSite and lifetime come from
/// `session.cookie.*`, `cookies.*` and `session.lifespan`. An expired session
/// cookie still carries a value (an encoded empty session).
#[then(regex = r"^it (sets|expires) the session cookie as the deployment configures it$")]
async fn session_cookie(world: &mut ConformanceWorld, what: String) -> Result<()> {
    let deployment = world.deployment().await?;
    let attributes =
        if what == "sets" { deployment.session_cookie_attributes() } else { deployment.expired_session_cookie_attributes() };
    let exchange = world.last()?;
    let cookie = check::set_cookie(exchange, &deployment.session_cookie.name)?;
    check::cookie_attributes(exchange, &cookie, &attributes)
}

#[then("Kratos answers 422 with the error browser_location_change_required, redirecting to the AAL2 login")]
async fn location_change_to_aal2(world: &mut ConformanceWorld) -> Result<()> {
    let aal2_login = world.deployment().await?.public("self-service/login/browser?aal=aal2");
    let exchange = world.last()?;
    let error = check::error(exchange, 422, Some("browser_location_change_required"))?;
    check::equals(exchange, "redirect_browser_to", Some(aal2_login.as_str()), error.redirect_browser_to())?;
    let reason = format!("In order to complete this flow please redirect the browser to: {aal2_login}");
    check::equals(exchange, "error.reason", Some(reason.as_str()), error.reason())
}

/// The `return_to` a deployment must refuse is named in the reason.
#[then("Kratos answers 400 with the error self_service_flow_return_to_forbidden, naming the return URL")]
async fn return_to_forbidden(world: &mut ConformanceWorld) -> Result<()> {
    let url = world.return_to.clone().context("the scenario asked for no return URL")?;
    let exchange = world.last()?;
    let error = check::error(exchange, 400, Some("self_service_flow_return_to_forbidden"))?;
    let reason = format!("Requested return_to URL \"{url}\" is not allowed.");
    check::equals(exchange, "error.reason", Some(reason.as_str()), error.reason())
}
