//! Account recovery: a recovery code the admin API makes (as a help desk
//! would), the recovery flow it belongs to, and the settings flow it ends in.

use anyhow::{Context, Result};
use cucumber::{then, when};
use crate::check;
use crate::client::{ClientKind, Flow, FlowKind};
use crate::world::Csrf;
use crate::ConformanceWorld;
use serde_json::{Value, json};

/// `POST /admin/recovery/code?return_to=<allowed>`: the recovery flow it
/// makes keeps that `return_to`, and hands it to the settings flow.
#[when("the admin API makes a browser recovery code for the identity, returning to an allowed return URL")]
async fn admin_recovery_code(world: &mut ConformanceWorld) -> Result<()> {
    let url = world.deployment().await?.allowed_return_url().context("the deployment allows no return URL")?;
    world.return_to = Some(url.clone());
    let id = world.identity()?.id.clone();
    world.last = Some(world.admin().await?.create_recovery_code(&id, "browser", Some(&url)).await?);
    Ok(())
}

/// The link is the deployment's recovery UI with the flow's id; the code six digits.
#[then("Kratos answers 201 with a recovery code and a link to the recovery UI")]
async fn recovery_code_answer(world: &mut ConformanceWorld) -> Result<()> {
    let ui = world.deployment().await?.ui.recovery.clone();
    let exchange = world.last()?;
    check::status(exchange, 201)?;
    let body = exchange.json()?;
    let link = body["recovery_link"].as_str().unwrap_or_default();
    let flow = crate::client::flow_id_in(link).unwrap_or_default();
    check::equals(exchange, "recovery_link", format!("{ui}?flow={flow}"), link.to_string())?;
    let code = body["recovery_code"].as_str().unwrap_or_default();
    check::equals(exchange, "a recovery_code of six digits", true, code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()))
}

fn recovery_code(world: &ConformanceWorld) -> Result<(String, String)> {
    let body = world
        .transcript
        .all()
        .into_iter()
        .rev()
        .find_map(|e| e.json().ok().filter(|b| b.get("recovery_code").is_some()))
        .context("the admin API made no recovery code")?;
    let code = body["recovery_code"].as_str().unwrap_or_default().to_string();
    let link = body["recovery_link"].as_str().unwrap_or_default().to_string();
    Ok((code, link))
}

/// The recovery UI the link opens fetches its flow by id.
#[when("it opens the recovery link")]
async fn opens_recovery_link(world: &mut ConformanceWorld) -> Result<()> {
    let (_, link) = recovery_code(world)?;
    let id = crate::client::flow_id_in(&link).context("the recovery link names no flow")?;
    let fetched = world.client()?.fetch_flow(FlowKind::Recovery, &id).await?;
    check::status(&fetched, 200)?;
    world.flow = Some(Flow::from_json(fetched.json()?).map_err(|e| check::failure(&fetched, e))?);
    world.flow_kind = Some(FlowKind::Recovery);
    world.last = Some(fetched);
    Ok(())
}

#[when("it submits the recovery code")]
async fn submits_recovery_code(world: &mut ConformanceWorld) -> Result<()> {
    let (code, _) = recovery_code(world)?;
    world.submit_to_flow(None, json!({"method": "code", "code": code}), Csrf::FromFlow, &[]).await
}

#[when("another browser submits the same code to that recovery flow")]
async fn other_browser_submits(world: &mut ConformanceWorld) -> Result<()> {
    let (code, _) = recovery_code(world)?;
    world.client = Some(world.new_client(ClientKind::Browser).await?);
    world.submit_to_flow(None, json!({"method": "code", "code": code}), Csrf::FromFlow, &[]).await
}

/// The recovery ends in a settings flow the session may not see until it has
/// its second factor: the flow is known by its id only.
fn settings_flow_known_by_id(world: &mut ConformanceWorld, location: &str) -> Result<()> {
    let id = crate::client::flow_id_in(location).context("the address names no flow")?;
    let action = world.client()?.kratos.deployment.public(&format!("self-service/settings?flow={id}"));
    let known = json!({"id": id, "type": "browser", "ui": {"action": action.as_str(), "method": "POST", "nodes": []}});
    world.started_settings = Some(Flow::from_json(known)?);
    Ok(())
}

#[then("Kratos answers 303 to the settings UI, with a flow it cannot show yet")]
async fn recovered_to_settings(world: &mut ConformanceWorld) -> Result<()> {
    let ui = world.deployment().await?.ui.settings.clone();
    let exchange = world.last()?.clone();
    check::status(&exchange, 303)?;
    check::location_is_ui_with_flow(&exchange, &ui)?;
    settings_flow_known_by_id(world, exchange.location().unwrap_or_default())
}

#[then("Kratos answers 422 with the error browser_location_change_required, sending the browser to the settings UI with a flow it cannot show yet")]
async fn recovered_to_settings_spa(world: &mut ConformanceWorld) -> Result<()> {
    let ui = world.deployment().await?.ui.settings.clone();
    let exchange = world.last()?.clone();
    let error = check::error(&exchange, 422, Some("browser_location_change_required"))?;
    let to = error.redirect_browser_to().unwrap_or_default().to_string();
    let id = crate::client::flow_id_in(&to).unwrap_or_default();
    check::equals(&exchange, "redirect_browser_to", format!("{ui}?flow={id}"), to.clone())?;
    let reason = format!("In order to complete this flow please redirect the browser to: {to}");
    check::equals(&exchange, "error.reason", Some(reason.as_str()), error.reason())?;
    settings_flow_known_by_id(world, &to)
}

#[when("the settings UI fetches the flow it was sent to")]
async fn fetches_sent_flow(world: &mut ConformanceWorld) -> Result<()> {
    let id = world.started_settings.as_ref().context("the client was sent to no settings flow")?.id.clone();
    world.last = Some(world.client()?.fetch_flow(FlowKind::Settings, &id).await?);
    world.flow_kind = Some(FlowKind::Settings);
    Ok(())
}

/// A new password for the identity, in the current settings flow.
#[when("it sets a new password")]
async fn sets_new_password(world: &mut ConformanceWorld) -> Result<()> {
    let deployment = world.deployment().await?;
    let password = crate::identity::Person::generate(&deployment, deployment.default_schema())
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .password;
    world.identity.as_mut().context("no identity")?.person.password = password.clone();
    world.submit_to_flow(None, json!({"method": "password", "password": password}), Csrf::FromFlow, &[]).await
}

/// The identity's password as it stands: a new one Kratos took, or the one it
/// had where Kratos refused the new one.
#[then(regex = r"^a new native client (?:signs in with the new password|still signs in with the password it had)$")]
async fn signs_in_with_new_password(world: &mut ConformanceWorld) -> Result<()> {
    let mut client = world.new_client(ClientKind::Native).await?;
    let person = world.identity()?.person.clone();
    client.password_step(&world.identifier_of(&person)?, &person.password).await?;
    Ok(())
}

#[then(expr = "the flow's message says {string}")]
async fn flow_message_says(world: &mut ConformanceWorld, text: String) -> Result<()> {
    let exchange = world.transcript.last().context("no exchange yet")?;
    let texts: Vec<Value> = world.flow()?.ui.messages.iter().map(|m| json!(m.text)).collect();
    check::equals(&exchange, "the flow's messages", vec![json!(text)], texts)
}

/// The deployment's hooks after a recovery and after a new password decide
/// whether the identity's other sessions (here the device that paired the app)
/// end: `revoke_active_sessions`.
#[then("the device that paired the app is signed out or not, as the deployment's hooks after a recovery and a new password say")]
async fn other_sessions_as_configured(world: &mut ConformanceWorld) -> Result<()> {
    let revoked = world.deployment().await?.revokes_sessions_after(&["recovery.after", "settings.after", "settings.after.password"]);
    let device = world.enrollment_device.clone().context("no device enrolled a second factor")?;
    let whoami = device.whoami().await?;
    check::status(&whoami, if revoked { 401 } else { 200 })
}

/// Wrong codes (never the one the admin API made), each answered with the
/// flow and the message; as many as the deployment lets one flow take.
#[when(regex = r"^it submits as many wrong recovery codes as the deployment allows, each refused with the message (\d+)$")]
async fn wrong_recovery_codes(world: &mut ConformanceWorld, message: u64) -> Result<()> {
    let (right, _) = recovery_code(world)?;
    let allowed = world.deployment().await?.code_max_submissions;
    for attempt in 0..allowed {
        let mut wrong = 100_000 + (attempt * 104_729) % 900_000;
        if wrong.to_string() == right {
            wrong += 1;
        }
        world.submit_to_flow(None, json!({"method": "code", "code": wrong.to_string()}), Csrf::FromFlow, &[]).await?;
        let exchange = world.last()?.clone();
        check::status(&exchange, 200)?;
        let flow = Flow::from_json(exchange.json()?).map_err(|e| check::failure(&exchange, e))?;
        check::message_ids(&exchange, &format!("ui.messages after wrong code {}", attempt + 1), &flow.ui.messages, &[message])?;
        world.flow = Some(flow);
    }
    Ok(())
}

/// The flow the client submitted to is replaced: Kratos sends the client to
/// the new one on its API (`/self-service/recovery/flows?id=`), which shows
/// the message.
#[then(expr = "Kratos answers 303 to a new recovery flow on the public API, with the message {int} saying {string}")]
async fn new_recovery_flow(world: &mut ConformanceWorld, message: u64, text: String) -> Result<()> {
    let exchange = world.last()?.clone();
    check::status(&exchange, 303)?;
    let location = check::location(&exchange)?.to_string();
    let url = url::Url::parse(&location)?;
    let id = url.query_pairs().find(|(k, _)| k == "id").map(|(_, v)| v.into_owned()).unwrap_or_default();
    let expected = world.deployment().await?.public(&format!("self-service/recovery/flows?id={id}"));
    check::equals(&exchange, "Location", expected.as_str(), location.as_str())?;
    check::equals(&exchange, "a new flow", true, !id.is_empty() && id != world.flow()?.id)?;
    let fetched = world.client()?.fetch_flow(FlowKind::Recovery, &id).await?;
    check::status(&fetched, 200)?;
    let flow = Flow::from_json(fetched.json()?).map_err(|e| check::failure(&fetched, e))?;
    check::message_ids(&fetched, "ui.messages", &flow.ui.messages, &[message])?;
    check::equals(&fetched, "the message text", text.as_str(), flow.ui.messages[0].text.as_str())?;
    world.flow = Some(flow);
    Ok(())
}
