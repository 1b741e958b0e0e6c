//! Clients, and starting flows.

use anyhow::{Context, Result};
use cucumber::{given, then, when};
use crate::check;
use crate::client::{ClientKind, Flow, FlowKind};
use crate::world::Csrf;
use crate::ConformanceWorld;
use serde_json::json;

use super::response::flow_kind;

#[given(expr = "a(n) {client} client")]
async fn a_client(world: &mut ConformanceWorld, kind: ClientKind) -> Result<()> {
    world.client = Some(world.new_client(kind).await?);
    Ok(())
}

/// Two phrasings of one action: "signed in" reads better where the identity has
/// no second factor, "completed the password step" where one is still owed.
#[given(regex = r"^an? (browser|SPA|native) client (?:signed in with the password|that has completed the password step)$")]
async fn password_step_done(world: &mut ConformanceWorld, kind: ClientKind) -> Result<()> {
    let mut client = world.new_client(kind).await?;
    let person = world.identity()?.person.clone();
    let answer = client.password_step(&world.identifier_of(&person)?, &person.password).await?;
    let lifespan = world.deployment().await?.lifespans.session;
    world.session_deadline = Some(answer.at + answer.elapsed + lifespan);
    world.client = Some(client);
    Ok(())
}

#[given(expr = "a(n) {client} client signed in with the password and the TOTP code")]
async fn signed_in_with_totp(world: &mut ConformanceWorld, kind: ClientKind) -> Result<()> {
    let mut client = world.new_client(kind).await?;
    let person = world.identity()?.person.clone();
    client.password_step(&world.identifier_of(&person)?, &person.password).await?;
    let code = world.authenticator()?.late_code(0, Some(world.last_totp_code.clone()));
    client.second_factor(json!({"method": "totp"}), vec![("totp_code".into(), code)]).await?;
    world.client = Some(client);
    Ok(())
}

/// Starts the flow and, as the UI or app would, loads it: from the JSON answer,
/// or for a browser sent to the UI, by fetching it by its id.
#[when(regex = r"^it starts a (login|settings|registration|recovery) flow$")]
async fn starts_flow(world: &mut ConformanceWorld, kind: String) -> Result<()> {
    let kind = flow_kind(&kind);
    let exchange = world.client()?.start_flow(kind, &[]).await?;
    load_started(world, kind, exchange).await
}

#[then(expr = "the flow is a(n) {string} flow for {string}, posting to its own id")]
async fn flow_type(world: &mut ConformanceWorld, kind: String, aal: String) -> Result<()> {
    let flow: &Flow = world.flow()?;
    let exchange = world.transcript.last().expect("a flow came from an exchange");
    check::equals(&exchange, "type", Some(kind.as_str()), flow.str_field("type"))?;
    check::equals(&exchange, "requested_aal", Some(aal.as_str()), flow.str_field("requested_aal"))?;
    let flow_path = if world.flow_kind == Some(FlowKind::Settings) { "settings" } else { "login" };
    let action = world.client()?.kratos.public(&format!("self-service/{flow_path}?flow={}", flow.id));
    check::equals(&exchange, "ui.action", action.as_str(), flow.ui.action.as_str())?;
    check::equals(&exchange, "ui.method", "POST", flow.ui.method.as_str())
}

#[then("its csrf_token node carries a token")]
async fn csrf_node_has_token(world: &mut ConformanceWorld) -> Result<()> {
    let flow = world.flow()?;
    let exchange = world.transcript.last().expect("a flow came from an exchange");
    if flow.csrf_token().unwrap_or_default().is_empty() {
        return Err(check::failure(&exchange, "expected a CSRF token in the csrf_token node, it is empty"));
    }
    Ok(())
}

#[then("its csrf_token node is empty")]
async fn csrf_node_empty(world: &mut ConformanceWorld) -> Result<()> {
    let flow = world.flow()?;
    let exchange = world.transcript.last().expect("a flow came from an exchange");
    check::equals(&exchange, "the csrf_token node's value", Some(""), flow.csrf_token())
}

#[when("another native client completes the password step")]
async fn another_password_step(world: &mut ConformanceWorld) -> Result<()> {
    let mut client = world.new_client(ClientKind::Native).await?;
    let person = world.identity()?.person.clone();
    client.password_step(&world.identifier_of(&person)?, &person.password).await?;
    world.first_client = world.client.replace(client);
    Ok(())
}

#[when(expr = "it starts a login flow with {string}")]
async fn starts_login_with(world: &mut ConformanceWorld, query: String) -> Result<()> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let client = world.client()?.clone();
    let exchange = client.start_flow(FlowKind::Login, &pairs).await?;
    load_started(world, FlowKind::Login, exchange).await
}

#[when(expr = "it starts a login flow with {string} with the credentials it kept")]
async fn starts_login_with_kept(world: &mut ConformanceWorld, query: String) -> Result<()> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let headers = super::session::kept_headers(world)?;
    let client = world.client()?.clone();
    let exchange = client.start_flow_with(FlowKind::Login, &pairs, &headers).await?;
    load_started(world, FlowKind::Login, exchange).await
}

/// `return_to` from the deployment's allow-list, or one no entry admits.
#[when(regex = r"^it starts a login flow returning to (an allowed return URL|a return URL that is not allowed)$")]
async fn starts_login_returning(world: &mut ConformanceWorld, which: String) -> Result<()> {
    let deployment = world.deployment().await?;
    let url = if which.starts_with("an allowed") {
        deployment.allowed_return_url().context("the deployment allows no return URL")?
    } else {
        deployment.disallowed_return_url().map_err(|e| anyhow::anyhow!("{e}"))?
    };
    world.return_to = Some(url.clone());
    let client = world.client()?.clone();
    let exchange = client.start_flow(FlowKind::Login, &[("return_to", url.as_str())]).await?;
    load_started(world, FlowKind::Login, exchange).await
}

/// Every entry of `selfservice.allowed_return_urls`, not only the first: a
/// login of a client of the scenario's kind, new for each, returning there.
#[when("a client of its kind signs in with the password once for each allowed return URL")]
async fn signs_in_returning_to_each(world: &mut ConformanceWorld) -> Result<()> {
    let kind = world.client()?.kind;
    let urls = world.deployment().await?.return_url_under_each_allowed();
    if urls.is_empty() {
        anyhow::bail!("the deployment allows no return URL (selfservice.allowed_return_urls is empty)");
    }
    let person = world.identity()?.person.clone();
    let identifier = world.identifier_of(&person)?;
    world.logins_by_return_url.clear();
    for url in urls {
        let client = world.new_client(kind).await?;
        let answer = client.submit_password_in(&[("return_to", url.as_str())], &identifier, &person.password).await?;
        world.logins_by_return_url.push((url, answer));
    }
    Ok(())
}

/// A browser is sent to the `return_to` it came with; an SPA is told to go there.
#[then("each login ended at the return URL it was started with")]
async fn each_login_returned(world: &mut ConformanceWorld) -> Result<()> {
    let kind = world.client()?.kind;
    for (url, answer) in &world.logins_by_return_url {
        match kind {
            ClientKind::Browser => {
                check::status(answer, 303)?;
                check::equals(answer, "Location", Some(url.as_str()), answer.location())?;
            }
            _ => {
                check::status(answer, 200)?;
                let expected = json!([{"action": "redirect_browser_to", "redirect_browser_to": url}]);
                check::json_field(answer, &answer.json()?, "/continue_with", &expected)?;
            }
        }
    }
    Ok(())
}

#[when(regex = r"^it submits (the identifier and the password|the identifier and a wrong password|an unknown identifier and a password)$")]
async fn submits_password(world: &mut ConformanceWorld, what: String) -> Result<()> {
    let person = world.identity()?.person.clone();
    let identifier = world.identifier_of(&person)?;
    let (identifier, password) = match what.as_str() {
        "the identifier and the password" => (identifier, person.password),
        "the identifier and a wrong password" => (identifier, format!("{}-wrong", person.password)),
        _ => (format!("unknown.{identifier}"), person.password),
    };
    let fields = json!({"method": "password", "identifier": identifier, "password": password});
    world.submit_to_flow(None, fields, Csrf::FromFlow, &[]).await
}

#[when(expr = "it submits the identifier {string} and a password to a login flow id nobody issued")]
async fn submit_to_unknown_login_flow(world: &mut ConformanceWorld, identifier: String) -> Result<()> {
    let fields = json!({"method": "password", "identifier": identifier, "password": "not-a-real-password-1"});
    world.last = Some(world.client()?.submit_to_unissued_flow(FlowKind::Login, fields).await?);
    Ok(())
}

/// Where the login asks for the identifier first: the identifier alone.
#[when(regex = r"^it submits (the identifier|an unknown identifier) alone$")]
async fn submits_identifier_alone(world: &mut ConformanceWorld, which: String) -> Result<()> {
    let identifier = if which == "the identifier" {
        let person = world.identity()?.person.clone();
        world.identifier_of(&person)?
    } else {
        // No scenario makes an identity of it; the same in every run, so the
        // flow documentation shows it as it is.
        format!("nobody@{}", world.deployment().await?.team.mail_domain())
    };
    world.submit_to_flow(None, json!({"method": "identifier_first", "identifier": identifier}), Csrf::FromFlow, &[]).await
}

/// The second screen of an identifier-first login: the password, with the
/// identifier kept as a hidden input.
#[then("the flow asks for the password, with the identifier hidden")]
async fn asks_for_password_identifier_hidden(world: &mut ConformanceWorld) -> Result<()> {
    let exchange = world.transcript.last().context("no exchange yet")?;
    let flow = world.flow()?;
    check::equals(&exchange, "the visible nodes", vec!["password".to_string(), "method=password".into()], flow.visible_node_names_of(&["default", "password", "identifier_first"]))?;
    check::equals(&exchange, "the hidden nodes", vec!["csrf_token".to_string(), "identifier".into()], flow.hidden_node_names_of(&["default", "password", "identifier_first"]))
}

/// The first form of a login flow, by the deployment's login style.
#[then("the flow's nodes are the deployment's first login form")]
async fn first_login_form(world: &mut ConformanceWorld) -> Result<()> {
    let expected: &[&str] = if world.deployment().await?.login_style == "identifier_first" {
        &["csrf_token", "identifier", "method=identifier_first"]
    } else {
        &["csrf_token", "identifier", "password", "method=password"]
    };
    let exchange = world.transcript.last().context("no exchange yet")?;
    check::node_names(&exchange, world.flow()?, expected)
}

#[when("the browser loses its cookies")]
async fn loses_cookies(world: &mut ConformanceWorld) -> Result<()> {
    world.client()?.http.clear_cookies();
    Ok(())
}

#[when(regex = r"^the (login|settings) UI fetches the flow by its id$")]
async fn ui_fetches_flow(world: &mut ConformanceWorld, kind: String) -> Result<()> {
    let id = world.flow()?.id.clone();
    world.last = Some(world.client()?.fetch_flow(flow_kind(&kind), &id).await?);
    Ok(())
}

/// What a UI does with a `?flow=` it was handed: here an id Kratos never
/// issued, for the answers that come before any flow is looked up.
#[when(regex = r"^the (login|settings|registration|recovery) UI fetches a flow by an id nobody issued$")]
async fn ui_fetches_unknown_flow(world: &mut ConformanceWorld, kind: String) -> Result<()> {
    let exchange = world.client()?.fetch_flow(flow_kind(&kind), crate::client::UNISSUED_FLOW_ID).await?;
    world.last = Some(exchange);
    Ok(())
}

#[when("it forgets its session token")]
async fn forgets_token(world: &mut ConformanceWorld) -> Result<()> {
    world.client_mut()?.session_token = None;
    Ok(())
}

/// What a browser does with a 303: it asks for the Location, with its cookies.
#[when("it follows the redirect")]
async fn follows_redirect(world: &mut ConformanceWorld) -> Result<()> {
    let location = check::location(world.last()?)?.to_string();
    let exchange = world.client()?.get(&location).await?;
    load_started(world, FlowKind::Login, exchange).await
}

/// What an SPA does with a 422: it sends the browser to `redirect_browser_to`,
/// which it fetches as JSON.
#[when("it follows the redirect_browser_to URL")]
async fn follows_redirect_browser_to(world: &mut ConformanceWorld) -> Result<()> {
    let body = world.last()?.json()?;
    let url = body.get("redirect_browser_to").and_then(|v| v.as_str()).context("no redirect_browser_to")?.to_string();
    let exchange = world.client()?.get(&url).await?;
    load_started(world, FlowKind::Login, exchange).await
}

/// Keeps the answer to a flow start and, where it carries a flow, loads it: a
/// browser sent to a UI loads the flow of that UI's kind.
pub(crate) async fn load_started(world: &mut ConformanceWorld, kind: FlowKind, exchange: crate::client::Exchange) -> Result<()> {
    let client = world.client()?.clone();
    let deployment = world.deployment().await?;
    let kind = match exchange.location() {
        Some(l) if l.starts_with(&deployment.ui.settings) => FlowKind::Settings,
        Some(l) if l.starts_with(&deployment.ui.registration) => FlowKind::Registration,
        Some(l) if l.starts_with(&deployment.ui.login) => FlowKind::Login,
        _ => kind,
    };
    world.flow_kind = Some(kind);
    let carries_flow = match exchange.status.as_u16() {
        200 => exchange.json().is_ok_and(|b| b.get("ui").is_some()),
        303 => exchange.location().and_then(crate::client::flow_id_in).is_some(),
        _ => false,
    };
    world.flow = if carries_flow { Some(client.flow_from(kind, &exchange).await?) } else { None };
    if kind == FlowKind::Settings && world.flow.is_some() {
        world.started_settings = world.flow.clone();
    }
    world.last = Some(exchange);
    world.read_offered_totp_secret()
}

// --- refresh logins ---

#[then(regex = r"^the flow is (no refresh, and has no message|a refresh, with the message (\d+))$")]
async fn flow_refresh(world: &mut ConformanceWorld, which: String, message: String) -> Result<()> {
    let exchange = world.transcript.last().context("no exchange yet")?;
    let flow = world.flow()?;
    let refresh = !which.starts_with("no refresh");
    check::equals(&exchange, "refresh", Some(&serde_json::Value::Bool(refresh)), flow.field("refresh"))?;
    let expected: Vec<u64> = message.parse().into_iter().collect();
    check::message_ids(&exchange, "ui.messages", &flow.ui.messages, &expected)
}

#[then(expr = "the flow has the messages {int} and {int}")]
async fn flow_two_messages(world: &mut ConformanceWorld, first: u64, second: u64) -> Result<()> {
    let exchange = world.transcript.last().context("no exchange yet")?;
    check::message_ids(&exchange, "ui.messages", &world.flow()?.ui.messages, &[first, second])
}

/// A password step of another identity (created now), in the current flow.
#[when("it submits another identity's identifier and password")]
async fn submits_other_identity(world: &mut ConformanceWorld) -> Result<()> {
    let pending = std::mem::take(&mut world.pending_addresses);
    let other = world.create_identity(None).await?;
    world.pending_addresses = pending;
    let identifier = world.identifier_of(&other.person)?;
    let fields = json!({"method": "password", "identifier": identifier, "password": other.person.password});
    world.other_identity = Some(other);
    world.submit_to_flow(None, fields, Csrf::FromFlow, &[]).await
}

/// The session cookie alone is gone (deleted by the user, or not forwarded by
/// a proxy); the CSRF cookie stays.
#[when("the browser loses its session cookie")]
async fn loses_session_cookie(world: &mut ConformanceWorld) -> Result<()> {
    let deployment = world.deployment().await?;
    let client = world.client()?;
    client.http.remove_cookie(&client.kratos.public(""), &deployment.session_cookie.name);
    Ok(())
}

/// The client signs in through a login flow of its own, leaving the flow the
/// scenario is working on open.
#[when("it signs in with the password in another login flow")]
async fn signs_in_elsewhere(world: &mut ConformanceWorld) -> Result<()> {
    let person = world.identity()?.person.clone();
    let identifier = world.identifier_of(&person)?;
    world.client_mut()?.password_step(&identifier, &person.password).await?;
    Ok(())
}

/// Codes outside the window Kratos accepts (never one of the previous, the
/// current or the next step's), each answered as a wrong code; the flow stays.
#[when(regex = r"^it submits (\d+) wrong TOTP codes, each refused with the message (\d+)$")]
async fn submits_wrong_codes(world: &mut ConformanceWorld, count: usize, message: u64) -> Result<()> {
    let app = world.authenticator()?.clone();
    for attempt in 0..count {
        let app = app.clone();
        let wrong: crate::client::Late = std::sync::Arc::new(move || {
            let valid = app.window_codes();
            let mut guess = 100_000 + (attempt as u32 * 7_919) % 900_000;
            while valid.contains(&guess.to_string()) {
                guess = 100_000 + (guess + 1) % 900_000;
            }
            Ok(guess.to_string())
        });
        world.submit_to_flow_with(None, json!({"method": "totp"}), Csrf::FromFlow, &[], vec![("totp_code".into(), wrong)]).await?;
        let exchange = world.last()?.clone();
        check::status(&exchange, 400)?;
        let flow = Flow::from_json(exchange.json()?).map_err(|e| check::failure(&exchange, e))?;
        check::message_ids(&exchange, &format!("ui.messages after wrong code {}", attempt + 1), &flow.ui.messages, &[message])?;
        world.flow = Some(flow);
    }
    Ok(())
}

/// What an expired login flow's error says to do: the browser init endpoint
/// (with the flow's `return_to`), or the API's.
#[then(regex = r"^the error's details (send the browser to start a new login flow, returning to the allowed return URL|send the app to start a new login flow)$")]
async fn expired_login_details(world: &mut ConformanceWorld, which: String) -> Result<()> {
    let deployment = world.deployment().await?;
    let exchange = world.last()?;
    let expected = if which.starts_with("send the browser") {
        let return_to = world.return_to.clone().context("the scenario asked for no return URL")?;
        let mut init = deployment.public("self-service/login/browser");
        init.query_pairs_mut().append_pair("return_to", &return_to);
        json!({"redirect_to": init.as_str(), "return_to": return_to})
    } else {
        json!({"api": deployment.public("self-service/login/api").as_str()})
    };
    check::json_field(exchange, &exchange.json()?, "/error/details", &expected)
}

#[when(expr = "it starts a login flow asking for a session token exchange code with {string}, returning to an allowed return URL")]
async fn starts_with_exchange_code(world: &mut ConformanceWorld, value: String) -> Result<()> {
    let url = world.deployment().await?.allowed_return_url().context("the deployment allows no return URL")?;
    world.return_to = Some(url.clone());
    let client = world.client()?.clone();
    let query = [("return_session_token_exchange_code", value.as_str()), ("return_to", url.as_str())];
    let exchange = client.start_flow(FlowKind::Login, &query).await?;
    load_started(world, FlowKind::Login, exchange).await
}

#[then(regex = r"^the flow carries (a|no) session token exchange code$")]
async fn exchange_code(world: &mut ConformanceWorld, which: String) -> Result<()> {
    let exchange = world.transcript.last().context("no exchange yet")?;
    let code = world.flow()?.str_field("session_token_exchange_code").filter(|c| !c.is_empty());
    check::equals(&exchange, "a session_token_exchange_code", which == "a", code.is_some())
}
