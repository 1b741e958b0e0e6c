//! The current flow: its nodes, messages and state, whatever kind it is.

use anyhow::{Context, Result};
use cucumber::then;
use kratos_conformance::check;
use kratos_conformance::client::Exchange;
use kratos_conformance::ConformanceWorld;
use serde_json::json;

/// The exchange the current flow came from, for failure reports.
fn source(world: &ConformanceWorld) -> Result<Exchange> {
    world.transcript.last().context("no exchange yet")
}

#[then(expr = "the flow's nodes are {string}")]
async fn flow_nodes(world: &mut ConformanceWorld, nodes: String) -> Result<()> {
    let expected: Vec<&str> = nodes.split(", ").collect();
    check::node_names(&source(world)?, world.flow()?, &expected)
}

#[then(expr = "the flow's nodes are, in any order, {string}")]
async fn flow_nodes_unordered(world: &mut ConformanceWorld, nodes: String) -> Result<()> {
    let mut expected: Vec<&str> = nodes.split(", ").collect();
    let mut actual = world.flow()?.node_names();
    expected.sort_unstable();
    actual.sort_unstable();
    check::equals(&source(world)?, "the flow's nodes (sorted)", expected, actual.iter().map(String::as_str).collect())
}

#[then(regex = r#"^the flow's (TOTP|lookup_secret|password|profile|default) nodes are "(.*)"$"#)]
async fn group_nodes(world: &mut ConformanceWorld, group: String, nodes: String) -> Result<()> {
    let group = if group == "TOTP" { "totp".to_string() } else { group };
    let flow = world.flow()?;
    let actual: Vec<String> = flow
        .ui
        .nodes
        .iter()
        .zip(flow.node_names())
        .filter(|(node, _)| node.group == group)
        .map(|(_, name)| name)
        .collect();
    let expected: Vec<&str> = nodes.split(", ").collect();
    check::equals(&source(world)?, &format!("the {group} nodes"), expected, actual.iter().map(String::as_str).collect())
}

#[then(expr = "the flow is in state {string} with the message {int}")]
async fn flow_state(world: &mut ConformanceWorld, state: String, message: u64) -> Result<()> {
    let flow = world.flow()?;
    let exchange = source(world)?;
    check::equals(&exchange, "state", Some(state.as_str()), flow.str_field("state"))?;
    check::message_ids(&exchange, "ui.messages", &flow.ui.messages, &[message])
}

#[then(expr = "the node {string} has the message {int}")]
async fn node_message(world: &mut ConformanceWorld, name: String, message: u64) -> Result<()> {
    let flow = world.flow()?;
    let exchange = source(world)?;
    let node = flow.node(&name).ok_or_else(|| check::failure(&exchange, format!("the flow has no node {name}")))?;
    check::message_ids(&exchange, &format!("the messages of {name}"), &node.messages, &[message])?;
    // The message is on the field, not on the whole form.
    check::message_ids(&exchange, "ui.messages", &flow.ui.messages, &[])
}

#[then(expr = "the flow has the message {int} saying {string}")]
async fn flow_message_text(world: &mut ConformanceWorld, message: u64, text: String) -> Result<()> {
    let flow = world.flow()?;
    let exchange = source(world)?;
    check::message_ids(&exchange, "ui.messages", &flow.ui.messages, &[message])?;
    check::equals(&exchange, "the message text", text.as_str(), flow.ui.messages[0].text.as_str())
}

#[then("the flow is in state \"success\"")]
async fn flow_success(world: &mut ConformanceWorld) -> Result<()> {
    let exchange = source(world)?;
    check::json_field(&exchange, &world.flow()?.raw, "/state", &json!("success"))
}
