//! Identities: the admin API, and identities with a password or a paired app.

use anyhow::{Context, Result};
use cucumber::{given, then, when};
use crate::check;
use crate::client::{ClientKind, FlowKind};
use crate::identity::Identity;
use crate::totp::OtpAuthUrl;
use crate::world::Csrf;
use crate::ConformanceWorld;
use serde_json::{Value, json};

#[when("an identity is created through the admin API with a password")]
async fn create_with_password(world: &mut ConformanceWorld) -> Result<()> {
    let person = world.new_person(None).await?;
    let schema_id = world.deployment().await?.default_schema_id.clone();
    let exchange = world.admin().await?.create(&person, &schema_id).await?;
    if let Some(id) = exchange.json().ok().and_then(|b| b["id"].as_str().map(str::to_string)) {
        world.created_identities.push(id.clone());
        world.identity = Some(Identity { id, person, schema_id });
    }
    world.last = Some(exchange);
    Ok(())
}

#[when("an identity is created through the admin API with a TOTP credential")]
async fn create_with_totp(world: &mut ConformanceWorld) -> Result<()> {
    let person = world.new_person(None).await?;
    let schema_id = world.deployment().await?.default_schema_id.clone();
    let body = json!({
        "schema_id": schema_id,
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
    check::json_field(exchange, &body, "/schema_id", &json!(identity.schema_id))?;
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

/// Kratos stores identifiers lower-cased; their order is its own, so compare
/// them as a set.
#[then("the identity's password credential has its password identifiers, lower-cased, and no config")]
async fn password_credential_shape(world: &mut ConformanceWorld) -> Result<()> {
    let exchange = world.last()?;
    let body = exchange.json()?;
    let mut expected: Vec<String> = world.identity()?.person.identifiers.iter().map(|i| i.value.to_lowercase()).collect();
    expected.sort();
    let mut actual: Vec<String> = body
        .pointer("/credentials/password/identifiers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    actual.sort();
    check::json_field(exchange, &body, "/credentials/password/type", &json!("password"))?;
    check::equals(exchange, "credentials.password.identifiers (sorted)", expected, actual)?;
    check::json_field(exchange, &body, "/credentials/password/config", &Value::Null)
}

#[given("an identity with a password")]
async fn identity_with_password(world: &mut ConformanceWorld) -> Result<()> {
    world.identity = Some(world.create_identity(None).await?);
    Ok(())
}

/// Metadata the identity may see of itself, and metadata only the admin API may.
#[given("an identity with a password and metadata for itself and for the admin")]
async fn identity_with_metadata(world: &mut ConformanceWorld) -> Result<()> {
    let deployment = world.deployment().await?;
    let schema_id = deployment.default_schema_id.clone();
    let person = world.new_person(None).await?;
    let public = super::session::public_metadata();
    let admin = super::session::admin_metadata();
    let exchange = world.admin().await?.create_with_metadata(&person, &schema_id, public, admin).await?;
    check::status(&exchange, 201)?;
    let id = exchange.json()?["id"].as_str().context("the created identity has no id")?.to_string();
    world.created_identities.push(id.clone());
    world.identity = Some(Identity { id, person, schema_id });
    Ok(())
}

/// An identity of the first schema that names no `totp.account_name` trait.
#[given("an identity with a password, of a schema without a TOTP account name")]
async fn identity_without_account_name(world: &mut ConformanceWorld) -> Result<()> {
    let deployment = world.deployment().await?;
    let schema = deployment
        .schemas
        .iter()
        .find(|s| s.totp_account_name().is_none())
        .context("every identity schema of the deployment names a TOTP account name")?
        .id
        .clone();
    world.identity = Some(world.create_identity(Some(&schema)).await?);
    Ok(())
}

/// Enrolls second factors the way a native app does (the quickest way through
/// the settings flow); what enrollment answers is asserted in enrollment.feature.
#[given(regex = r"^an identity with a password(?:, | and )(a paired authenticator app|recovery codes|a paired authenticator app and recovery codes)$")]
async fn identity_with_second_factors(world: &mut ConformanceWorld, factors: String) -> Result<()> {
    let identity = world.create_identity(None).await?;
    let mut app = world.new_client(ClientKind::Native).await?;
    app.password_step(&world.identifier_of(&identity.person)?, &identity.person.password).await?;
    if factors.contains("authenticator app") {
        world.authenticator = Some(app.pair_totp().await?);
    }
    if factors.contains("recovery codes") {
        world.recovery_codes = app.generate_recovery_codes().await?;
    }
    // The settings submits sent the verification of the identity's addresses.
    world.pending_addresses.clear();
    world.identity = Some(identity);
    world.enrollment_device = Some(app);
    Ok(())
}

#[given(expr = "a(n) {client} client signed in with the password and a recovery code")]
async fn signed_in_with_recovery_code(world: &mut ConformanceWorld, kind: ClientKind) -> Result<()> {
    let mut client = world.new_client(kind).await?;
    let person = world.identity()?.person.clone();
    client.password_step(&world.identifier_of(&person)?, &person.password).await?;
    let code = world.recovery_codes.first().context("the identity has no recovery codes")?.clone();
    client.second_factor(json!({"method": "lookup_secret", "lookup_secret": code}), Vec::new()).await?;
    world.used_recovery_code = Some(code);
    world.client = Some(client);
    Ok(())
}

/// Someone (the user, on a phone) signed in with one of the codes.
#[given("one of its recovery codes was used on another device")]
async fn code_used_elsewhere(world: &mut ConformanceWorld) -> Result<()> {
    let mut device = world.new_client(ClientKind::Native).await?;
    let person = world.identity()?.person.clone();
    device.password_step(&world.identifier_of(&person)?, &person.password).await?;
    let code = world.recovery_codes.first().context("the identity has no recovery codes")?.clone();
    device.second_factor(json!({"method": "lookup_secret", "lookup_secret": code}), Vec::new()).await?;
    world.used_recovery_code = Some(code);
    world.other_device = Some(device);
    Ok(())
}

/// Recovery codes as a user (or an attacker) might type them. A code "nobody
/// was given" is out of the codes' alphabet; the capitals and the spaces are
/// what a keyboard or a form field does to a real one.
#[when(regex = r"^it submits (one of the recovery codes|one of the old recovery codes|the used recovery code|a recovery code nobody was given|an empty recovery code|one of its recovery codes in capitals|one of its recovery codes padded with spaces|a recovery code of another identity)( with no csrf_token| with a wrong csrf_token)?$")]
async fn submits_recovery_code(world: &mut ConformanceWorld, which: String, csrf: String) -> Result<()> {
    let unused = |codes: &[String], used: &Option<String>| codes.iter().find(|c| Some(*c) != used.as_ref()).cloned();
    let code = match which.as_str() {
        "one of the recovery codes" => unused(&world.recovery_codes, &world.used_recovery_code).context("the identity has no unused recovery codes")?,
        "one of the old recovery codes" => {
            unused(&world.previous_recovery_codes, &world.used_recovery_code).context("the identity has no old recovery codes")?
        }
        "the used recovery code" => world.used_recovery_code.clone().context("no recovery code was used yet")?,
        "a recovery code nobody was given" => "NOTACODE".to_string(),
        "an empty recovery code" => String::new(),
        "one of its recovery codes in capitals" => {
            unused(&world.recovery_codes, &world.used_recovery_code).context("no unused recovery code")?.to_uppercase()
        }
        "one of its recovery codes padded with spaces" => {
            format!(" {} ", unused(&world.recovery_codes, &world.used_recovery_code).context("no unused recovery code")?)
        }
        _ => {
            // Another identity's codes, generated as the scenario's own were.
            let other = world.create_identity(None).await?;
            let mut app = world.new_client(ClientKind::Native).await?;
            app.password_step(&world.identifier_of(&other.person)?, &other.person.password).await?;
            let codes = app.generate_recovery_codes().await?;
            codes.first().context("no codes for the other identity")?.clone()
        }
    };
    if matches!(which.as_str(), "one of the recovery codes" | "one of the old recovery codes") {
        world.used_recovery_code = Some(code.clone());
    }
    let csrf = match csrf.as_str() {
        " with no csrf_token" => Csrf::Omitted,
        " with a wrong csrf_token" => Csrf::Wrong,
        _ => Csrf::FromFlow,
    };
    world.submit_to_flow(None, json!({"method": "lookup_secret", "lookup_secret": code}), csrf, &[]).await
}

#[when("the first client reveals its recovery codes in a settings flow")]
async fn first_client_reveals(world: &mut ConformanceWorld) -> Result<()> {
    let first = world.first_client.clone().context("there is no first client")?;
    let flow = first.start_and_load(FlowKind::Settings, &[]).await?;
    let revealed = first.submit_flow(&flow, json!({"lookup_secret_reveal": true})).await?;
    check::status(&revealed, 200)?;
    world.flow = Some(first.flow_from(FlowKind::Settings, &revealed).await?);
    world.last = Some(revealed);
    Ok(())
}

#[then(expr = "the used code is shown as used, with the message {int}")]
async fn used_code_shown(world: &mut ConformanceWorld, message: u64) -> Result<()> {
    let exchange = world.last()?;
    let node = world.flow()?.node_by_id("lookup_secret_codes").ok_or_else(|| check::failure(exchange, "no lookup_secret_codes node"))?;
    let secrets = node.attributes.pointer("/text/context/secrets").and_then(Value::as_array).cloned().unwrap_or_default();
    let ids: Vec<u64> = secrets.iter().filter_map(|s| s["id"].as_u64()).collect();
    let used = world.used_recovery_code.clone().unwrap_or_default();
    let shown: Vec<&str> = secrets.iter().filter_map(|s| s.pointer("/context/secret").and_then(Value::as_str)).collect();
    check::equals(exchange, "how many codes are shown as used", 1, ids.iter().filter(|id| **id == message).count())?;
    check::equals(exchange, "how many codes are shown as unused (1050009)", world.recovery_codes.len() - 1, ids.iter().filter(|id| **id == 1050009).count())?;
    check::equals(exchange, "the used code is no longer shown", false, shown.contains(&used.as_str()))?;
    let mut unused: Vec<&str> = world.recovery_codes.iter().map(String::as_str).filter(|c| *c != used).collect();
    let mut shown = shown.clone();
    unused.sort_unstable();
    shown.sort_unstable();
    check::equals(exchange, "the codes shown are the identity's unused codes", unused, shown)
}

#[then(regex = r"^the admin API shows a TOTP credential whose totp_url holds the (paired|new|other device's) secret$")]
async fn admin_shows_totp(world: &mut ConformanceWorld, which: String) -> Result<()> {
    let expected = if which == "other device's" { world.other_authenticator.clone() } else { world.authenticator.clone() };
    let expected = expected.context("no authenticator app was paired")?;
    let id = world.identity()?.id.clone();
    let exchange = world.admin().await?.get(&id, Some("totp")).await?;
    check::status(&exchange, 200)?;
    let body = exchange.json()?;
    check::json_field(&exchange, &body, "/credentials/totp/identifiers", &json!([id]))?;
    let url = body.pointer("/credentials/totp/config/totp_url").and_then(Value::as_str).unwrap_or_default();
    let parsed = OtpAuthUrl::parse(url).map_err(|e| check::failure(&exchange, e))?;
    check::equals(&exchange, "the secret in totp_url", expected.secret(), parsed.secret.as_str())
}

/// The identity's stored recovery codes, as the admin API reads them back
/// (`include_credential=lookup_secret`); `None` without the credential.
async fn stored_recovery_codes(world: &mut ConformanceWorld) -> Result<(crate::client::Exchange, Option<Vec<String>>)> {
    let id = world.identity()?.id.clone();
    let exchange = world.admin().await?.get(&id, Some("lookup_secret")).await?;
    check::status(&exchange, 200)?;
    let body = exchange.json()?;
    let codes = body.pointer("/credentials/lookup_secret/config/recovery_codes").and_then(Value::as_array).map(|codes| {
        codes.iter().filter_map(|c| c.get("code").and_then(Value::as_str).map(str::to_string)).collect()
    });
    Ok((exchange, codes))
}

#[then(regex = r"^the admin API (shows the recovery codes the flow showed|still shows the old recovery codes|still shows the recovery codes it was given|shows no recovery codes)$")]
async fn admin_shows_codes(world: &mut ConformanceWorld, which: String) -> Result<()> {
    let (exchange, stored) = stored_recovery_codes(world).await?;
    let expected = match which.as_str() {
        "shows the recovery codes the flow showed" | "still shows the recovery codes it was given" => Some(world.recovery_codes.clone()),
        "still shows the old recovery codes" => Some(world.previous_recovery_codes.clone()),
        _ => None,
    };
    check::equals(&exchange, "the stored recovery codes", expected, stored)
}

/// What the identity was given is what Kratos keeps: the codes themselves,
/// not a hash of them.
#[then("the admin API shows the recovery codes the identity was given, as they were shown")]
async fn codes_stored_as_shown(world: &mut ConformanceWorld) -> Result<()> {
    let (exchange, stored) = stored_recovery_codes(world).await?;
    check::equals(&exchange, "the stored recovery codes", Some(world.recovery_codes.clone()), stored)
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
