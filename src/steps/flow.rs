//! The current flow: its nodes, messages and state, whatever kind it is.

use anyhow::{Context, Result};
use cucumber::gherkin::Step;
use cucumber::then;
use crate::check;
use crate::client::Exchange;
use crate::ConformanceWorld;
use serde_json::{Value, json};

/// The exchange the current flow came from, for failure reports.
fn source(world: &ConformanceWorld) -> Result<Exchange> {
    world.transcript.last().context("no exchange yet")
}

/// The nodes of the groups this expectation names (and the default group), as
/// a person sees them: visible nodes in this order, hidden inputs as a set. A
/// method the scenario is not about (a team's passkeys) is not compared, nor is
/// where a hidden input sits (Kratos versions differ in it).
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

/// A method the deployment has off: the flow has no node of its group.
#[then(regex = r"^the flow has no (TOTP|lookup_secret|password|profile) nodes$")]
async fn no_group_nodes(world: &mut ConformanceWorld, group: String) -> Result<()> {
    let group = if group == "TOTP" { "totp".to_string() } else { group };
    let flow = world.flow()?;
    let present: Vec<String> = flow.ui.nodes.iter().zip(flow.node_names()).filter(|(node, _)| node.group == group).map(|(_, name)| name).collect();
    check::equals(&source(world)?, &format!("the {group} nodes"), Vec::<String>::new(), present)
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

/// The nodes as a table: `node` (name, or `name=value` for a submit), `group`,
/// `type` (the input type; for other nodes, the node type) and `label` (its
/// id). Rows of visible nodes in this order, of hidden inputs in any order; only
/// the groups the table names.
#[then("the flow's nodes are:")]
async fn flow_node_table(world: &mut ConformanceWorld, step: &Step) -> Result<()> {
    let table = step.table.as_ref().context("the step needs a table")?;
    // `(identifier)`: the label Kratos gives the identifier field for the schema.
    let identifier_label = world.deployment().await?.default_schema().identifier_label_id().to_string();
    let expected: Vec<Vec<String>> = table
        .rows
        .iter()
        .skip(1)
        .map(|row| row.iter().map(|cell| if cell == "(identifier)" { identifier_label.clone() } else { cell.clone() }).collect())
        .collect();
    let groups: Vec<&str> = expected.iter().filter_map(|row| row.get(1).map(String::as_str)).collect();
    let flow = world.flow()?;
    let rows: Vec<(bool, Vec<String>)> = flow
        .ui
        .nodes
        .iter()
        .zip(flow.node_names())
        .filter(|(node, _)| groups.contains(&node.group.as_str()))
        .map(|(node, name)| {
            let kind = node.attr_str("type").map(str::to_string).unwrap_or_else(|| node.kind.clone());
            (node.is_hidden(), vec![name, node.group.clone(), kind, node.label_id().map(|id| id.to_string()).unwrap_or_default()])
        })
        .collect();
    let split = |rows: Vec<(bool, Vec<String>)>| {
        let (mut hidden, visible): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(h, _)| *h);
        hidden.sort();
        (visible.into_iter().map(|(_, r)| r).collect::<Vec<_>>(), hidden.into_iter().map(|(_, r)| r).collect::<Vec<_>>())
    };
    let (actual_visible, actual_hidden) = split(rows);
    let (expected_visible, expected_hidden) = split(expected.into_iter().map(|row| (row.get(2).is_some_and(|t| t == "hidden"), row)).collect());
    let exchange = source(world)?;
    check::equals(&exchange, "the visible nodes (node, group, type, label), in order", expected_visible, actual_visible)?;
    check::equals(&exchange, "the hidden nodes (node, group, type, label), in any order", expected_hidden, actual_hidden)
}

#[then(expr = "the flow has the message {int}")]
async fn flow_message(world: &mut ConformanceWorld, message: u64) -> Result<()> {
    check::message_ids(&source(world)?, "ui.messages", &world.flow()?.ui.messages, &[message])
}

#[then("the flow's ui.nodes are null")]
async fn nodes_null(world: &mut ConformanceWorld) -> Result<()> {
    check::json_field(&source(world)?, &world.flow()?.raw, "/ui/nodes", &Value::Null)
}

/// The submitted code is not echoed back into the form.
#[then(expr = "the node {string} carries no value")]
async fn node_without_value(world: &mut ConformanceWorld, name: String) -> Result<()> {
    let exchange = source(world)?;
    let node = world.flow()?.node(&name).ok_or_else(|| check::failure(&exchange, format!("no node {name}")))?;
    check::equals(&exchange, &format!("the value of {name}"), None, node.value())
}

#[then("the flow's return_to is the allowed return URL")]
async fn flow_return_to(world: &mut ConformanceWorld) -> Result<()> {
    let url = world.return_to.clone().context("the scenario asked for no return URL")?;
    check::json_field(&source(world)?, &world.flow()?.raw, "/return_to", &json!(url))
}

/// `expires_at` is `issued_at` plus the lifespan the deployment configures for
/// this kind of flow, to the nanosecond.
#[then(regex = r"^the flow expires the deployment's (login|settings|registration) lifespan after it was issued$")]
async fn flow_lifespan(world: &mut ConformanceWorld, kind: String) -> Result<()> {
    let expected = world.deployment().await?.flow_lifespan(&kind);
    let flow = world.flow()?;
    let exchange = source(world)?;
    let at = |field: &str| flow.str_field(field).and_then(|t| humantime::parse_rfc3339(t).ok());
    let (issued, expires) = (at("issued_at"), at("expires_at"));
    let lifespan = issued.zip(expires).and_then(|(i, e)| e.duration_since(i).ok());
    check::equals(&exchange, "expires_at - issued_at", Some(expected), lifespan)
}

/// An AAL2 flow of an identity without a second factor: no TOTP or recovery
/// code field to fill in (and no password either).
#[then("the flow offers no second factor")]
async fn offers_no_second_factor(world: &mut ConformanceWorld) -> Result<()> {
    let flow = world.flow()?;
    let offered: Vec<String> = flow
        .ui
        .nodes
        .iter()
        .zip(flow.node_names())
        .filter(|(node, _)| matches!(node.group.as_str(), "totp" | "lookup_secret" | "password" | "webauthn" | "code"))
        .map(|(_, name)| name)
        .collect();
    check::equals(&source(world)?, "the nodes of a factor", Vec::<String>::new(), offered)
}
