//! Clients, and starting flows.

use anyhow::Result;
use cucumber::{given, then, when};
use kratos_conformance::check;
use kratos_conformance::client::{ClientKind, Flow};
use kratos_conformance::ConformanceWorld;

use super::response::flow_kind;

#[given(expr = "a(n) {client} client")]
async fn a_client(world: &mut ConformanceWorld, kind: ClientKind) -> Result<()> {
    world.client = Some(world.new_client(kind).await?);
    Ok(())
}

#[given(expr = "a(n) {client} client signed in with the password")]
async fn signed_in(world: &mut ConformanceWorld, kind: ClientKind) -> Result<()> {
    let mut client = world.new_client(kind).await?;
    client.sign_in(&world.identity()?.person, None).await?;
    world.client = Some(client);
    Ok(())
}

#[given(expr = "a(n) {client} client signed in with the password and the TOTP code")]
async fn signed_in_with_totp(world: &mut ConformanceWorld, kind: ClientKind) -> Result<()> {
    let mut client = world.new_client(kind).await?;
    client.sign_in(&world.identity()?.person, Some(world.authenticator()?)).await?;
    world.client = Some(client);
    Ok(())
}

/// Starts the flow and, as the UI or app would, loads it: from the JSON answer,
/// or for a browser sent to the UI, by fetching it by its id.
#[when(regex = r"^it starts a (login|settings|registration) flow$")]
async fn starts_flow(world: &mut ConformanceWorld, kind: String) -> Result<()> {
    let kind = flow_kind(&kind);
    let client = world.client()?.clone();
    let exchange = client.start_flow(kind, &[]).await?;
    world.flow_kind = Some(kind);
    let carries_flow = match exchange.status.as_u16() {
        200 => exchange.json().is_ok_and(|b| b.get("ui").is_some()),
        303 => exchange.location().and_then(kratos_conformance::client::flow_id_in).is_some(),
        _ => false,
    };
    world.flow = if carries_flow { Some(client.flow_from(kind, &exchange).await?) } else { None };
    world.last = Some(exchange);
    world.read_offered_totp_secret()
}

#[then(expr = "the flow is a(n) {string} flow for {string}, posting to its own id")]
async fn flow_type(world: &mut ConformanceWorld, kind: String, aal: String) -> Result<()> {
    let flow: &Flow = world.flow()?;
    let exchange = world.transcript.last().expect("a flow came from an exchange");
    check::equals(&exchange, "type", Some(kind.as_str()), flow.str_field("type"))?;
    check::equals(&exchange, "requested_aal", Some(aal.as_str()), flow.str_field("requested_aal"))?;
    let action = world.client()?.kratos.public(&format!("self-service/login?flow={}", flow.id));
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
