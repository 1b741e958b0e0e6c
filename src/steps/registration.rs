//! Self-service registration (two steps in Kratos v1.3.1: the profile, then the
//! password), with the traits the deployment's schema asks for and the ending
//! its configuration gives it: a session or not, a verification or not.

use anyhow::{Context, Result};
use cucumber::{then, when};
use crate::check;
use crate::client::ClientKind;
use crate::world::Csrf;
use crate::ConformanceWorld;
use serde_json::{Value, json};

#[when("it submits the registration profile step with a fake person's traits")]
async fn profile_step(world: &mut ConformanceWorld) -> Result<()> {
    let person = world.new_person(None).await?;
    let fields = json!({"method": "profile", "traits": person.traits()});
    world.person = Some(person);
    world.submit_to_flow(None, fields, Csrf::FromFlow, &[]).await
}

#[when("it submits the registration password step with the person's password")]
async fn password_step(world: &mut ConformanceWorld) -> Result<()> {
    let person = world.person.clone().context("no person submitted the profile step")?;
    let fields = json!({"method": "password", "traits": person.traits(), "password": person.password});
    world.submit_to_flow(None, fields, Csrf::FromFlow, &[]).await?;
    forget_after_the_scenario(world).await
}

/// The first step shows every trait of the default schema a form can hold, in
/// the schema's order, then the profile method. A list of objects gets no field
/// (Kratos renders none), a list of values one. Other methods' nodes (a code,
/// a passkey) are not what this scenario is about.
#[then("the flow asks for the schema's traits, then the profile method")]
async fn asks_for_traits(world: &mut ConformanceWorld) -> Result<()> {
    let deployment = world.deployment().await?;
    let is_object = |schema: &Value| schema.get("properties").is_some() || schema.get("type") == Some(&json!("object"));
    let schema = deployment.default_schema();
    let mut expected: Vec<String> = schema
        .traits
        .iter()
        .filter(|t| !is_object(&t.schema))
        .filter(|t| !t.schema.get("items").and_then(|i| crate::deployment::schema::resolve(&schema.document, i)).is_some_and(is_object))
        .map(|t| format!("traits.{}", t.path))
        .collect();
    expected.push("method=profile".into());
    let exchange = world.transcript.last().context("no exchange yet")?;
    let flow = world.flow()?;
    let visible = flow.visible_node_names_of(&["default", "profile"]);
    check::equals(&exchange, "the visible nodes of the profile form", expected, visible)?;
    check::equals(&exchange, "the hidden nodes", vec!["csrf_token".to_string()], flow.hidden_node_names())
}

/// The legacy one-step form: the traits, the password and the password method
/// together (compared as a set: this suite has not pinned their order).
#[then("the flow asks for the schema's traits and the password at once")]
async fn asks_for_everything(world: &mut ConformanceWorld) -> Result<()> {
    let deployment = world.deployment().await?;
    let is_object = |schema: &Value| schema.get("properties").is_some() || schema.get("type") == Some(&json!("object"));
    let schema = deployment.default_schema();
    let mut expected: Vec<String> = schema
        .traits
        .iter()
        .filter(|t| !is_object(&t.schema))
        .filter(|t| !t.schema.get("items").and_then(|i| crate::deployment::schema::resolve(&schema.document, i)).is_some_and(is_object))
        .map(|t| format!("traits.{}", t.path))
        .chain(["password".to_string(), "method=password".to_string()])
        .collect();
    expected.sort();
    let exchange = world.transcript.last().context("no exchange yet")?;
    let flow = world.flow()?;
    let mut visible = flow.visible_node_names_of(&["default", "profile", "password"]);
    visible.sort();
    check::equals(&exchange, "the visible nodes (sorted)", expected, visible)
}

#[when("it submits the registration form with a fake person's traits and password")]
async fn one_step(world: &mut ConformanceWorld) -> Result<()> {
    let person = world.new_person(None).await?;
    let fields = json!({"method": "password", "traits": person.traits(), "password": person.password});
    world.person = Some(person);
    world.submit_to_flow(None, fields, Csrf::FromFlow, &[]).await?;
    forget_after_the_scenario(world).await
}

/// The second step asks for the password; the traits the person gave ride
/// along as hidden inputs (in no fixed order).
#[then(regex = r"^the flow asks for the password, with the traits hidden and (with|without) a csrf_token$")]
async fn asks_for_password(world: &mut ConformanceWorld, csrf: String) -> Result<()> {
    let person = world.person.clone().context("no person submitted the profile step")?;
    let mut hidden: Vec<String> = leaf_paths("traits", &person.traits);
    if csrf == "with" {
        hidden.push("csrf_token".into());
    }
    hidden.sort();
    let exchange = world.transcript.last().context("no exchange yet")?;
    let flow = world.flow()?;
    let mut visible = flow.visible_node_names_of(&["default", "profile", "password"]);
    visible.sort();
    let mut expected_visible = vec!["method=password".to_string(), "password".into(), "screen=previous".into()];
    expected_visible.sort();
    check::equals(&exchange, "the visible nodes (sorted)", expected_visible, visible)?;
    check::equals(&exchange, "the hidden nodes (sorted)", hidden, flow.hidden_node_names_of(&["default", "profile", "password"]))
}

/// The ending the deployment configures for a password registration:
/// - a session (and, for a native app, a session token) only with the
///   `session` hook;
/// - with verification on, a `show_verification_ui` item per address (a
///   browser is sent to the verification UI only with the
///   `show_verification_ui` hook);
/// - a browser goes to the return URL after registration, an SPA is told so.
#[then("the registration completes as the deployment configures it")]
async fn registration_completes(world: &mut ConformanceWorld) -> Result<()> {
    let deployment = world.deployment().await?;
    let person = world.person.clone().context("no person registered")?;
    let kind = world.client()?.kind;
    let exchange = world.last()?.clone();
    let issues_session = deployment.verification.registration_issues_session;
    let addresses: Vec<String> = if deployment.verification.enabled {
        deployment.default_schema().verifiable_traits().iter().filter_map(|t| person.trait_str(&t.path)).map(str::to_lowercase).collect()
    } else {
        Vec::new()
    };
    if kind == ClientKind::Browser {
        check::status(&exchange, 303)?;
        let location = check::location(&exchange)?.to_string();
        if deployment.registration_shows_verification() && !addresses.is_empty() {
            let prefix = format!("{}?flow=", deployment.ui.verification);
            check::equals(&exchange, "Location starts with the verification UI", true, location.starts_with(&prefix))?;
        } else {
            check::equals(&exchange, "Location", deployment.after_registration_url().as_str(), location.as_str())?;
        }
        let cookie_set = exchange.set_cookies().iter().any(|c| c.name() == deployment.session_cookie.name);
        return check::equals(&exchange, "a session cookie is set (the session hook)", issues_session, cookie_set);
    }
    check::status(&exchange, 200)?;
    let body = exchange.json()?;
    check::equals(&exchange, "a session in the body (the session hook)", issues_session, body.get("session").is_some_and(|s| !s.is_null()))?;
    let token = body.get("session_token").and_then(Value::as_str).map(str::to_string);
    check::equals(&exchange, "a session token (native, with the session hook)", kind == ClientKind::Native && issues_session, token.is_some())?;
    let ids: Vec<String> = body
        .get("continue_with")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|i| i["action"] == "show_verification_ui")
        .filter_map(|i| i.pointer("/flow/id").and_then(Value::as_str).map(str::to_string))
        .collect();
    let mut expected = Vec::new();
    if kind == ClientKind::Spa {
        expected.push(json!({"action": "redirect_browser_to", "redirect_browser_to": deployment.after_registration_url()}));
    }
    expected.extend(deployment.verification_items(&addresses, &ids, kind == ClientKind::Spa, None));
    if let (ClientKind::Native, Some(token)) = (kind, &token) {
        expected.push(json!({"action": "set_ory_session_token", "ory_session_token": token}));
    }
    let expected = if expected.is_empty() { Value::Null } else { Value::Array(expected) };
    check::json_field(&exchange, &body, "/continue_with", &expected)?;
    world.client_mut()?.keep_session_token(&exchange);
    Ok(())
}

/// Where registration issues no session, there is none to check.
#[then(regex = r#"^the client has a session at "(aal\d)" with the methods "(.*)", where registration issues one$"#)]
async fn session_where_issued(world: &mut ConformanceWorld, aal: String, methods: String) -> Result<()> {
    if !world.deployment().await?.verification.registration_issues_session {
        return Ok(());
    }
    let whoami = world.client()?.whoami().await?;
    check::status(&whoami, 200)?;
    let session = whoami.json()?;
    check::json_field(&whoami, &session, "/authenticator_assurance_level", &json!(aal))?;
    let actual: Vec<&str> =
        session["authentication_methods"].as_array().into_iter().flatten().filter_map(|m| m["method"].as_str()).collect();
    check::equals(&whoami, "authentication_methods", methods.split(", ").collect::<Vec<_>>(), actual)
}

/// `traits.name.first`, `traits.tags.0`, ... for every leaf of a traits object,
/// as Kratos names the hidden inputs that carry them.
fn leaf_paths(prefix: &str, value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => map.iter().flat_map(|(k, v)| leaf_paths(&format!("{prefix}.{k}"), v)).collect(),
        Value::Array(items) => items.iter().enumerate().flat_map(|(i, v)| leaf_paths(&format!("{prefix}.{i}"), v)).collect(),
        _ => vec![prefix.to_string()],
    }
}

/// The identity registration created is deleted when the scenario ends, like
/// those created through the admin API: found by its identifier, whatever the
/// client got back.
async fn forget_after_the_scenario(world: &mut ConformanceWorld) -> Result<()> {
    let from_body = world.last()?.json().ok().and_then(|b| b.pointer("/identity/id").and_then(Value::as_str).map(str::to_string));
    let id = match from_body {
        Some(id) => Some(id),
        None => {
            let person = world.person.clone().context("no person registered")?;
            let identifier = person.identifier_of(None).unwrap_or_default().to_string();
            world.admin().await?.find_by_identifier(&identifier).await?
        }
    };
    world.created_identities.extend(id);
    Ok(())
}
