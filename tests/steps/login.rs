//! The login flow.

use anyhow::Result;
use cucumber::{given, then, when};
use kratos_conformance::ConformanceWorld;
use kratos_conformance::check;
use kratos_conformance::client::{ClientKind, FlowKind};

#[given(expr = "a(n) {client} client")]
async fn a_client(world: &mut ConformanceWorld, kind: ClientKind) -> Result<()> {
    world.new_client(kind).await?;
    Ok(())
}

#[when("it starts a login flow")]
async fn starts_login(world: &mut ConformanceWorld) -> Result<()> {
    let exchange = world.client()?.start_flow(FlowKind::Login, &[]).await?;
    world.last = Some(exchange);
    Ok(())
}

#[then("Kratos redirects it to the login UI with the new flow's id")]
async fn redirected_to_login_ui(world: &mut ConformanceWorld) -> Result<()> {
    let exchange = world.last()?;
    check::status(exchange, 303)?;
    let ui = world.client()?.kratos.config.string("selfservice.flows.login.ui_url")?.to_string();
    check::location_is_ui_with_flow(exchange, &ui)?;
    Ok(())
}

#[when("the login UI fetches the flow by its id")]
async fn ui_fetches_flow(world: &mut ConformanceWorld) -> Result<()> {
    let client = world.client()?;
    let flow = client.flow_from(FlowKind::Login, world.last()?).await?;
    world.flow = Some(flow);
    Ok(())
}

#[then("Kratos answers 200 with the login flow")]
async fn answers_with_login_flow(world: &mut ConformanceWorld) -> Result<()> {
    let exchange = world.last()?;
    check::status(exchange, 200)?;
    let flow = world.client()?.flow_from(FlowKind::Login, exchange).await?;
    world.flow = Some(flow);
    Ok(())
}

#[then(expr = "the flow is a(n) {string} flow for {string}, posting to its own id")]
async fn flow_type(world: &mut ConformanceWorld, kind: String, aal: String) -> Result<()> {
    let flow = world.flow()?;
    let exchange = world.transcript.last().expect("a flow came from an exchange");
    check::equals(&exchange, "type", Some(kind.as_str()), flow.str_field("type"))?;
    check::equals(&exchange, "requested_aal", Some(aal.as_str()), flow.str_field("requested_aal"))?;
    let action = world.client()?.kratos.public(&format!("self-service/login?flow={}", flow.id));
    check::equals(&exchange, "ui.action", action.as_str(), flow.ui.action.as_str())?;
    check::equals(&exchange, "ui.method", "POST", flow.ui.method.as_str())
}

#[then(expr = "the flow's nodes are {string}")]
async fn flow_nodes(world: &mut ConformanceWorld, nodes: String) -> Result<()> {
    let flow = world.flow()?;
    let exchange = world.transcript.last().expect("a flow came from an exchange");
    let expected: Vec<&str> = nodes.split(", ").collect();
    check::node_names(&exchange, flow, &expected)
}

#[then("its csrf_token node carries a token")]
async fn csrf_node_has_token(world: &mut ConformanceWorld) -> Result<()> {
    let flow = world.flow()?;
    let exchange = world.transcript.last().expect("a flow came from an exchange");
    let token = flow.csrf_token().unwrap_or_default();
    if token.is_empty() {
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
