//! Sessions: what `/sessions/whoami` and successful logins say about them.

use anyhow::{Context, Result};
use cucumber::{then, when};
use kratos_conformance::check;
use kratos_conformance::client::{ClientKind, Exchange, FlowKind};
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
    world.last = Some(client.submit_flow(&flow, json!({"method": "password", "identifier": person.email, "password": person.password})).await?);
    world.client = Some(client);
    Ok(())
}

#[then(regex = r"^Kratos answers 200 with a session and (a session token|no token)$")]
async fn answers_with_session(world: &mut ConformanceWorld, token: String) -> Result<()> {
    let exchange = world.last()?.clone();
    check::status(&exchange, 200)?;
    let body = exchange.json()?;
    if body.get("session").is_none_or(Value::is_null) {
        return Err(check::failure(&exchange, "expected a session in the body"));
    }
    let has_token = body.get("session_token").and_then(Value::as_str).is_some_and(|t| t.starts_with("ory_st_"));
    check::equals(&exchange, "a session_token (ory_st_...)", token == "a session token", has_token)?;
    world.client_mut()?.keep_session_token(&exchange);
    Ok(())
}

#[then(regex = r#"^that session is at "(aal\d)" with the methods "(.*)", and shows the identity$"#)]
async fn that_session(world: &mut ConformanceWorld, aal: String, methods: String) -> Result<()> {
    let exchange = world.last()?;
    let body = exchange.json()?;
    let session = body.get("session").context("no session")?;
    session_is(exchange, session, &aal, &methods)?;
    check::json_field(exchange, session, "/identity/id", &json!(world.identity()?.id))
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
