//! Identities: the admin API, and identities with a password or a paired app.

use anyhow::{Context, Result};
use cucumber::{given, then, when};
use kratos_conformance::check;
use kratos_conformance::client::{ClientKind, FlowKind};
use kratos_conformance::identity::{DEFAULT_SCHEMA, Identity, Person};
use kratos_conformance::totp::{Authenticator, OtpAuthUrl};
use kratos_conformance::ConformanceWorld;
use serde_json::{Value, json};

#[when("an identity is created through the admin API with a password")]
async fn create_with_password(world: &mut ConformanceWorld) -> Result<()> {
    let person = Person::fake();
    let exchange = world.admin().await?.create(&person, DEFAULT_SCHEMA).await?;
    if let Some(id) = exchange.json().ok().and_then(|b| b["id"].as_str().map(str::to_string)) {
        world.created_identities.push(id.clone());
        world.identity = Some(Identity { id, person, schema_id: DEFAULT_SCHEMA.into() });
    }
    world.last = Some(exchange);
    Ok(())
}

#[when("an identity is created through the admin API with a TOTP credential")]
async fn create_with_totp(world: &mut ConformanceWorld) -> Result<()> {
    let person = Person::fake();
    let body = json!({
        "schema_id": DEFAULT_SCHEMA,
        "traits": person.traits(),
        "credentials": {"totp": {"config": {"totp_url": "otpauth://totp/kratos-conformance:x?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"}}},
    });
    let exchange = world.admin().await?.create_raw(body).await?;
    if let Some(id) = exchange.json().ok().and_then(|b| b["id"].as_str().map(str::to_string)) {
        world.created_identities.push(id);
    }
    world.last = Some(exchange);
    Ok(())
}

#[then("Kratos answers 201 with the identity")]
async fn answers_with_identity(world: &mut ConformanceWorld) -> Result<()> {
    let exchange = world.last()?;
    check::status(exchange, 201)?;
    let body = exchange.json()?;
    let identity = world.identity()?;
    check::json_field(exchange, &body, "/id", &json!(identity.id))?;
    check::json_field(exchange, &body, "/schema_id", &json!(DEFAULT_SCHEMA))?;
    check::json_field(exchange, &body, "/state", &json!("active"))?;
    check::json_field(exchange, &body, "/traits", &identity.person.traits())
}

#[then(expr = "the Location header is the admin base URL followed by {string}, without {string}")]
async fn location_is_admin_identity(world: &mut ConformanceWorld, path: String, _without: String) -> Result<()> {
    let kratos = world.kratos().await?;
    let exchange = world.last()?;
    let expected = kratos.admin_url.join(&path.replace("{id}", &world.identity()?.id))?;
    check::equals(exchange, "Location", Some(expected.as_str()), exchange.location())
}

#[then("the identity's password credential has its email as the only identifier and no config")]
async fn password_credential_shape(world: &mut ConformanceWorld) -> Result<()> {
    let exchange = world.last()?;
    let body = exchange.json()?;
    let email = &world.identity()?.person.email;
    check::json_field(exchange, &body, "/credentials/password/type", &json!("password"))?;
    check::json_field(exchange, &body, "/credentials/password/identifiers", &json!([email]))?;
    check::json_field(exchange, &body, "/credentials/password/config", &Value::Null)
}

#[given("an identity with a password")]
async fn identity_with_password(world: &mut ConformanceWorld) -> Result<()> {
    world.identity = Some(world.create_identity(DEFAULT_SCHEMA).await?);
    Ok(())
}

#[given(expr = "an identity with a password and the schema {string}")]
async fn identity_with_schema(world: &mut ConformanceWorld, schema: String) -> Result<()> {
    world.identity = Some(world.create_identity(&schema).await?);
    Ok(())
}

/// Pairs TOTP the way a native app does (the quickest way through the settings
/// flow); what pairing itself answers is asserted in enrollment.feature.
#[given("an identity with a password and a paired authenticator app")]
async fn identity_with_totp(world: &mut ConformanceWorld) -> Result<()> {
    let identity = world.create_identity(DEFAULT_SCHEMA).await?;
    let mut app = world.new_client(ClientKind::Native).await?;
    app.sign_in(&identity.person, None).await?;
    let flow = app.start_and_load(FlowKind::Settings, &[]).await?;
    let secret = flow
        .node_by_id("totp_secret_key")
        .and_then(|n| n.attributes.pointer("/text/context/secret")?.as_str())
        .context("the settings flow shows no TOTP secret")?;
    let authenticator = Authenticator::from_secret(secret)?;
    let paired = app.submit_flow(&flow, json!({"method": "totp", "totp_code": authenticator.current_code()})).await?;
    check::status(&paired, 200)?;
    world.identity = Some(identity);
    world.authenticator = Some(authenticator);
    Ok(())
}

#[then(regex = r"^the admin API shows a TOTP credential whose totp_url holds the (paired|new) secret$")]
async fn admin_shows_totp(world: &mut ConformanceWorld) -> Result<()> {
    let id = world.identity()?.id.clone();
    let exchange = world.admin().await?.get(&id, Some("totp")).await?;
    check::status(&exchange, 200)?;
    let body = exchange.json()?;
    check::json_field(&exchange, &body, "/credentials/totp/identifiers", &json!([id]))?;
    let url = body.pointer("/credentials/totp/config/totp_url").and_then(Value::as_str).unwrap_or_default();
    let parsed = OtpAuthUrl::parse(url).map_err(|e| check::failure(&exchange, e))?;
    check::equals(&exchange, "the secret in totp_url", world.authenticator()?.secret(), parsed.secret.as_str())
}

#[then("the admin API shows no TOTP credential")]
async fn admin_shows_no_totp(world: &mut ConformanceWorld) -> Result<()> {
    let id = world.identity()?.id.clone();
    let exchange = world.admin().await?.get(&id, Some("totp")).await?;
    check::status(&exchange, 200)?;
    let body = exchange.json()?;
    check::json_field(&exchange, &body, "/credentials/totp", &Value::Null)
}

#[when(expr = "the admin API deletes the identity's {string} credential")]
async fn admin_deletes_credential(world: &mut ConformanceWorld, kind: String) -> Result<()> {
    let id = world.identity()?.id.clone();
    world.last = Some(world.admin().await?.delete_credential(&id, &kind).await?);
    Ok(())
}
