//! The settings flow: pairing and unlinking TOTP, recovery codes, and its error paths.

use std::time::Duration;

use anyhow::{Context, Result};
use cucumber::{then, when};
use crate::check;
use crate::client::{ClientKind, FlowKind};
use crate::totp::{OtpAuthUrl, decode_qr_data_uri};
use crate::world::Csrf;
use crate::ConformanceWorld;
use serde_json::{Value, json};

/// The QR code decodes to the otpauth URL an authenticator app should get: the
/// deployment's issuer, and as account name the value of the schema's
/// `totp.account_name` trait, or, without one, the identity id.
#[then(regex = r"^the totp_qr node is a QR code of the otpauth URL (for the identity's account name|with the identity id as its account name)$")]
async fn qr_code_of(world: &mut ConformanceWorld, which: String) -> Result<()> {
    let deployment = world.deployment().await?;
    let exchange = world.transcript.last().context("no exchange yet")?;
    let flow = world.flow()?;
    let node = flow.node_by_id("totp_qr").ok_or_else(|| check::failure(&exchange, "the flow has no totp_qr node"))?;
    check::equals(&exchange, "the totp_qr node's label", Some(1050005), node.label_id())?;
    let size = (node.attributes.get("width").and_then(Value::as_u64), node.attributes.get("height").and_then(Value::as_u64));
    check::equals(&exchange, "the totp_qr image's size", (Some(256), Some(256)), size)?;
    let src = node.attr_str("src").unwrap_or_default();
    let content = decode_qr_data_uri(src).map_err(|e| check::failure(&exchange, e))?;
    let url = OtpAuthUrl::parse(&content).map_err(|e| check::failure(&exchange, e))?;
    let identity = world.identity()?;
    let schema = deployment.schema(&identity.schema_id).context("the identity's schema is not the deployment's")?;
    let account = match schema.totp_account_name() {
        Some(path) if which.starts_with("for") => identity.person.trait_str(path).unwrap_or_default().to_string(),
        Some(path) => anyhow::bail!("the schema {} names traits.{path} as the TOTP account name", schema.id),
        None => identity.id.clone(),
    };
    let expected = deployment.otpauth_url(&account, &url.secret);
    check::equals(&exchange, "the otpauth URL in the QR code", expected.as_str(), content.as_str())?;
    check::equals(&exchange, "the QR code's secret and the flow's", world.authenticator()?.secret(), url.secret.as_str())
}

#[then(expr = "the totp_secret_key node shows the same secret, as message {int}")]
async fn secret_key_node(world: &mut ConformanceWorld, message: u64) -> Result<()> {
    let exchange = world.transcript.last().context("no exchange yet")?;
    let node = world.flow()?.node_by_id("totp_secret_key").ok_or_else(|| check::failure(&exchange, "no totp_secret_key node"))?;
    let secret = world.authenticator()?.secret();
    check::equals(&exchange, "the totp_secret_key node's label", Some(1050017), node.label_id())?;
    let expected = json!({"id": message, "text": secret, "type": "info", "context": {"secret": secret}});
    check::equals(&exchange, "the totp_secret_key node's text", Some(&expected), node.attributes.get("text"))
}

#[when(expr = "it submits the settings form with only {string}")]
async fn submit_only(world: &mut ConformanceWorld, fields: String) -> Result<()> {
    world.submit_to_flow(None, parse_fields(&fields), Csrf::Omitted, &[]).await
}

/// `"totp_unlink=true, totp_code=000000"`, with the flow's CSRF token (or
/// without it, or with a wrong one).
#[when(regex = r#"^it submits "([a-z_]+=[^"]*)"( with no csrf_token| with a wrong csrf_token)?$"#)]
async fn submit_fields(world: &mut ConformanceWorld, fields: String, csrf: String) -> Result<()> {
    let csrf = match csrf.as_str() {
        " with no csrf_token" => Csrf::Omitted,
        " with a wrong csrf_token" => Csrf::Wrong,
        _ => Csrf::FromFlow,
    };
    world.submit_to_flow(None, parse_fields(&fields), csrf, &[]).await
}

#[when("another identity's native client submits the TOTP code of the current step to that flow")]
async fn other_identity_submits(world: &mut ConformanceWorld) -> Result<()> {
    let pending = std::mem::take(&mut world.pending_addresses);
    let other = world.create_identity(None).await?;
    world.pending_addresses = pending;
    let mut client = world.new_client(ClientKind::Native).await?;
    client.password_step(&world.identifier_of(&other.person)?, &other.person.password).await?;
    let code = world.authenticator()?.late_code(0, None);
    let action = world.flow()?.ui.action.clone();
    world.last = Some(client.submit_with(&action, vec![("method".into(), json!("totp"))], &[], vec![("totp_code".into(), code)]).await?);
    Ok(())
}

#[when(expr = "it submits the TOTP code {string} to a settings flow id nobody issued")]
async fn submit_to_unknown_flow(world: &mut ConformanceWorld, code: String) -> Result<()> {
    let fields = json!({"method": "totp", "totp_code": code});
    world.last = Some(world.client()?.submit_to_unissued_flow(FlowKind::Settings, fields).await?);
    Ok(())
}

/// Waits until the flow has expired: until its `issued_at` plus the lifespan the
/// deployment configures (and a margin), which is what the suite knows. A flow
/// whose own `expires_at` says otherwise fails the step with what it reported,
/// rather than holding the run for as long as Kratos says.
#[when("the flow has expired")]
async fn flow_expired(world: &mut ConformanceWorld) -> Result<()> {
    let deployment = world.deployment().await?;
    let kind = world.flow_kind.map(|k| k.path()).unwrap_or("login");
    let lifespan = deployment.flow_lifespan(kind);
    let exchange = world.transcript.last().context("no exchange yet")?;
    let flow = world.flow()?;
    let at = |field: &str| flow.str_field(field).and_then(|t| humantime::parse_rfc3339(t).ok());
    let (Some(issued), Some(expires)) = (at("issued_at"), at("expires_at")) else {
        return Err(check::failure(&exchange, "the flow has no issued_at or expires_at"));
    };
    let deadline = issued + lifespan + EXPIRY_MARGIN;
    if expires > deadline {
        return Err(check::failure(
            &exchange,
            format!("the {kind} flow's expires_at is {:?} after its issued_at, longer than the configured lifespan {lifespan:?}; the suite does not wait for it", expires.duration_since(issued).unwrap_or_default()),
        ));
    }
    wait_until(expires.max(issued + lifespan) + Duration::from_millis(100)).await;
    Ok(())
}

/// Waits until the session's `authenticated_at` is older than the deployment's
/// `privileged_session_max_age` (bounded by it, whatever Kratos reports).
#[when("the session is older than the privileged session age")]
async fn session_too_old(world: &mut ConformanceWorld) -> Result<()> {
    let max_age = world.deployment().await?.lifespans.privileged_session;
    let whoami = world.client()?.whoami().await?;
    check::status(&whoami, 200)?;
    let authenticated_at = whoami.json()?["authenticated_at"].as_str().and_then(|t| humantime::parse_rfc3339(t).ok());
    let Some(authenticated_at) = authenticated_at else {
        return Err(check::failure(&whoami, "the session has no authenticated_at"));
    };
    let now = std::time::SystemTime::now();
    if authenticated_at > now + EXPIRY_MARGIN {
        return Err(check::failure(&whoami, "the session's authenticated_at is in the future; the suite does not wait for it"));
    }
    wait_until(authenticated_at + max_age + Duration::from_millis(100)).await;
    Ok(())
}

/// How much later than the configured lifespan the suite accepts an expiry.
const EXPIRY_MARGIN: Duration = Duration::from_secs(2);

#[then("Kratos answers 303 to the login page for re-authentication, returning to the settings flow")]
async fn redirect_to_reauth(world: &mut ConformanceWorld) -> Result<()> {
    let expected = reauth_url(world).await?;
    let exchange = world.last()?;
    check::status(exchange, 303)?;
    check::equals(exchange, "Location", Some(expected.as_str()), exchange.location())
}

#[then("Kratos answers 403 with the error session_refresh_required, redirecting to re-authentication")]
async fn refresh_required(world: &mut ConformanceWorld) -> Result<()> {
    let expected = reauth_url(world).await?;
    let exchange = world.last()?;
    let error = check::error(exchange, 403, Some("session_refresh_required"))?;
    check::equals(exchange, "redirect_browser_to", Some(expected.as_str()), error.redirect_browser_to())
}

#[then("its ui.action names a new settings flow")]
async fn action_names_new_flow(world: &mut ConformanceWorld) -> Result<()> {
    let flow = world.flow()?;
    let exchange = world.last()?;
    let named = crate::client::flow_id_in(&flow.ui.action).unwrap_or_default();
    if named.is_empty() || named == flow.id {
        return Err(check::failure(exchange, format!("expected ui.action to name a new flow, it is {}", flow.ui.action)));
    }
    world.read_offered_totp_secret()
}

#[when(regex = r"^it submits the (old|new) secret's TOTP code of the current step(?: to that action)?$")]
async fn submit_code_of(world: &mut ConformanceWorld, which: String) -> Result<()> {
    let authenticator = if which == "old" { world.previous_authenticator.clone() } else { world.authenticator.clone() };
    let code = authenticator.context("no such authenticator")?.late_code(0, None);
    world.submit_to_flow_with(None, json!({"method": "totp"}), Csrf::FromFlow, &[], vec![("totp_code".into(), code)]).await
}

/// The codes shown are what the identity has from now on (once confirmed);
/// the ones they replace are kept as the old ones.
#[then(regex = r"^the lookup_secret_codes node shows (\d+) codes of (\d+) lowercase letters and digits(, none of them an old one)?$")]
async fn lookup_codes(world: &mut ConformanceWorld, count: usize, length: usize, fresh: String) -> Result<()> {
    let exchange = world.transcript.last().context("no exchange yet")?;
    let node = world.flow()?.node_by_id("lookup_secret_codes").ok_or_else(|| check::failure(&exchange, "no lookup_secret_codes node"))?;
    let secrets = node.attributes.pointer("/text/context/secrets").and_then(Value::as_array).cloned().unwrap_or_default();
    let codes: Vec<String> = secrets.iter().filter_map(|s| s.pointer("/context/secret")?.as_str().map(str::to_string)).collect();
    check::equals(&exchange, "the number of recovery codes", count, codes.len())?;
    let well_formed = codes.iter().all(|c| c.len() == length && c.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit()));
    check::equals(&exchange, "every code has the expected shape", true, well_formed)?;
    check::equals(&exchange, "the codes text's message id", Some(1050015), node.attributes.pointer("/text/id").and_then(Value::as_u64))?;
    if !fresh.is_empty() {
        let reused: Vec<&String> = codes.iter().filter(|c| world.recovery_codes.contains(c)).collect();
        check::equals(&exchange, "new codes that are old ones", 0, reused.len())?;
    }
    world.previous_recovery_codes = std::mem::replace(&mut world.recovery_codes, codes);
    Ok(())
}

/// Neither the answer nor anything the client was sent on to shows a code.
#[then("the answer shows none of the recovery codes")]
async fn shows_no_codes(world: &mut ConformanceWorld) -> Result<()> {
    let exchange = world.last()?.clone();
    let shown: Vec<String> = world.transcript.all().iter().skip_while(|e| e.at < exchange.at).map(|e| e.body_text()).collect();
    let leaked = world.recovery_codes.iter().filter(|code| shown.iter().any(|body| body.contains(code.as_str()))).count();
    check::equals(&exchange, "recovery codes in the answers since the submit", 0, leaked)
}

/// The settings flow's "sign in again" address: the browser login with
/// `refresh=true`, returning to the settings flow (Kratos builds both from its
/// public base URL).
async fn reauth_url(world: &mut ConformanceWorld) -> Result<String> {
    let deployment = world.deployment().await?;
    let settings = deployment.public(&format!("self-service/settings?flow={}", world.flow()?.id));
    let mut url = deployment.public("self-service/login/browser");
    url.query_pairs_mut().append_pair("refresh", "true").append_pair("return_to", settings.as_str());
    Ok(url.to_string())
}


/// `a=b, c=d` as JSON fields; `true` and `false` become booleans.
fn parse_fields(text: &str) -> Value {
    let fields = text
        .split(", ")
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| {
            let value = match v {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                other => Value::String(other.to_string()),
            };
            (k.to_string(), value)
        })
        .collect();
    Value::Object(fields)
}

/// Sleeps until `deadline` (not at all if it has passed), never longer than the
/// longest wait the suite allows a scenario.
pub(crate) async fn wait_until(deadline: std::time::SystemTime) {
    if let Ok(left) = deadline.duration_since(std::time::SystemTime::now()) {
        tokio::time::sleep(left.min(crate::deployment::LONGEST_WAIT + EXPIRY_MARGIN)).await;
    }
}

// --- starting, fetching and returning to settings flows ---

/// `GET /self-service/settings/browser?return_to=<allowed>`: the URL is what
/// Kratos sends the browser back to after a detour.
#[when("it starts a settings flow returning to an allowed return URL")]
async fn starts_settings_returning(world: &mut ConformanceWorld) -> Result<()> {
    let deployment = world.deployment().await?;
    let url = deployment.allowed_return_url().context("the deployment allows no return URL")?;
    world.return_to = Some(url.clone());
    let client = world.client()?.clone();
    let exchange = client.start_flow(FlowKind::Settings, &[("return_to", url.as_str())]).await?;
    world.settings_start_url = Some(exchange.url.to_string());
    super::login::load_started(world, FlowKind::Settings, exchange).await
}

#[then(expr = "the flow is a(n) {string} settings flow, posting to its own id")]
async fn settings_flow_type(world: &mut ConformanceWorld, kind: String) -> Result<()> {
    let flow = world.flow()?;
    let exchange = world.transcript.last().context("no exchange yet")?;
    check::equals(&exchange, "type", Some(kind.as_str()), flow.str_field("type"))?;
    let action = world.client()?.kratos.public(&format!("self-service/settings?flow={}", flow.id));
    check::equals(&exchange, "ui.action", action.as_str(), flow.ui.action.as_str())?;
    check::equals(&exchange, "ui.method", "POST", flow.ui.method.as_str())
}

#[when(expr = "another identity's {client} client fetches that flow")]
async fn other_identity_fetches(world: &mut ConformanceWorld, kind: ClientKind) -> Result<()> {
    let pending = std::mem::take(&mut world.pending_addresses);
    let other = world.create_identity(None).await?;
    world.pending_addresses = pending;
    let mut client = world.new_client(kind).await?;
    client.password_step(&world.identifier_of(&other.person)?, &other.person.password).await?;
    let id = world.flow()?.id.clone();
    world.last = Some(client.fetch_flow(FlowKind::Settings, &id).await?);
    Ok(())
}

#[when(expr = "the settings UI fetches the flow {string}")]
async fn fetches_settings_flow_id(world: &mut ConformanceWorld, id: String) -> Result<()> {
    world.last = Some(world.client()?.fetch_flow(FlowKind::Settings, &id).await?);
    Ok(())
}

/// An expired settings flow's error says where to start a new one: the browser
/// init endpoint (with the flow's `return_to`), or the API's.
#[then(regex = r"^the error's details (send the browser to start a new settings flow, returning nowhere|send the app to start a new settings flow)$")]
async fn expired_settings_details(world: &mut ConformanceWorld, which: String) -> Result<()> {
    let deployment = world.deployment().await?;
    let exchange = world.last()?;
    let expected = if which.starts_with("send the browser") {
        json!({"redirect_to": deployment.public("self-service/settings/browser").as_str(), "return_to": ""})
    } else {
        json!({"api": deployment.public("self-service/settings/api").as_str()})
    };
    check::json_field(exchange, &exchange.json()?, "/error/details", &expected)
}

/// The places a settings flow sends a session that owes its second factor
/// back to, after the AAL2 login.
async fn settings_return(world: &mut ConformanceWorld, place: &str) -> Result<String> {
    let deployment = world.deployment().await?;
    let started = world.started_settings.clone();
    Ok(match place {
        "where it started the settings flow" => world.settings_start_url.clone().context("the client started no settings flow with a return URL")?,
        "the settings UI showing the flow" | "the settings UI showing the flow it started" => {
            format!("{}?flow={}", deployment.ui.settings, started.context("the client started no settings flow")?.id)
        }
        "the settings flow's action" => started.context("the client started no settings flow")?.ui.action,
        other => anyhow::bail!("this step knows no place \"{other}\""),
    })
}

fn aal2_login_returning_to(world: &ConformanceWorld, url: &str) -> Result<String> {
    let mut login = world.client()?.kratos.deployment.public("self-service/login/browser");
    login.query_pairs_mut().append_pair("aal", "aal2").append_pair("return_to", url);
    Ok(login.to_string())
}

#[then(regex = r"^Kratos answers 303 to the AAL2 login, returning to (where it started the settings flow|the settings flow's action)$")]
async fn redirect_to_aal2_returning(world: &mut ConformanceWorld, place: String) -> Result<()> {
    let target = settings_return(world, &place).await?;
    let expected = aal2_login_returning_to(world, &target)?;
    let exchange = world.last()?;
    check::status(exchange, 303)?;
    check::equals(exchange, "Location", Some(expected.as_str()), exchange.location())
}

#[then(regex = r"^Kratos answers 403 with the error session_aal2_required, redirecting to the AAL2 login, returning to (where it started the settings flow|the settings UI showing the flow|the settings flow's action)$")]
async fn aal2_required_returning(world: &mut ConformanceWorld, place: String) -> Result<()> {
    let target = settings_return(world, &place).await?;
    let expected = aal2_login_returning_to(world, &target)?;
    let exchange = world.last()?;
    let error = check::error(exchange, 403, Some("session_aal2_required"))?;
    check::equals(exchange, "redirect_browser_to", Some(expected.as_str()), error.redirect_browser_to())?;
    let details = exchange.json()?.pointer("/error/details/redirect_browser_to").cloned();
    check::equals(exchange, "error.details.redirect_browser_to", Some(json!(expected)), details)
}

#[then(regex = r"^Kratos answers 303 to (where it started the settings flow|the settings UI showing the flow it started|the settings flow's action)$")]
async fn redirect_to_settings_place(world: &mut ConformanceWorld, place: String) -> Result<()> {
    let expected = settings_return(world, &place).await?;
    let exchange = world.last()?;
    check::status(exchange, 303)?;
    check::equals(exchange, "Location", Some(expected.as_str()), exchange.location())
}

#[then("the flow's return_to is where it started the settings flow")]
async fn return_to_settings_start(world: &mut ConformanceWorld) -> Result<()> {
    let expected = settings_return(world, "where it started the settings flow").await?;
    let exchange = world.transcript.last().context("no exchange yet")?;
    check::json_field(&exchange, &world.flow()?.raw, "/return_to", &json!(expected))
}

#[then("Kratos answers 303 to the login on the public API, keeping the return URL")]
async fn redirect_to_login_keeping(world: &mut ConformanceWorld) -> Result<()> {
    let return_to = world.return_to.clone().context("the scenario asked for no return URL")?;
    let mut expected = world.deployment().await?.public("self-service/login/browser");
    expected.query_pairs_mut().append_pair("return_to", &return_to);
    let exchange = world.last()?;
    check::status(exchange, 303)?;
    check::equals(exchange, "Location", Some(expected.as_str()), exchange.location())
}

/// Where an answer's `continue_with` sends the browser (kept, since later
/// steps replace the answer).
fn continue_with_url(world: &mut ConformanceWorld) -> Result<String> {
    if let Some(url) = world.last.as_ref().and_then(|e| e.json().ok()).and_then(|b| b.pointer("/continue_with/0/redirect_browser_to")?.as_str().map(str::to_string)) {
        world.continue_with = Some(url);
    }
    world.continue_with.clone().context("no answer continued with a redirect")
}

/// An SPA that treats `continue_with`'s address as an API: it fetches it as
/// JSON, as it fetches flows (the settings init endpoint answers with the flow).
#[when(regex = r"^it (?:follows that redirect|fetches that address as JSON)$")]
async fn follows_continue_with(world: &mut ConformanceWorld) -> Result<()> {
    let url = continue_with_url(world)?;
    let exchange = world.client()?.get(&url).await?;
    super::login::load_started(world, FlowKind::Settings, exchange).await
}

/// What `redirect_browser_to` is for: the browser goes there, as a page.
#[when("it sends the browser to that address")]
async fn navigates_continue_with(world: &mut ConformanceWorld) -> Result<()> {
    let url = continue_with_url(world)?;
    world.last = Some(world.client()?.navigate(&url).await?);
    Ok(())
}

/// The identity's owner pairs an app on a phone, say, while the scenario's
/// client still holds its session of before.
#[when("the identity pairs an authenticator app on another device")]
async fn pairs_elsewhere(world: &mut ConformanceWorld) -> Result<()> {
    let mut device = world.new_client(ClientKind::Native).await?;
    let person = world.identity()?.person.clone();
    device.password_step(&world.identifier_of(&person)?, &person.password).await?;
    world.other_authenticator = Some(device.pair_totp().await?);
    world.pending_addresses.clear();
    world.other_device = Some(device);
    Ok(())
}

#[when("it submits the other device's TOTP code of the current step")]
async fn submits_other_device_code(world: &mut ConformanceWorld) -> Result<()> {
    let code = world.other_authenticator.clone().context("no app was paired on another device")?.late_code(0, None);
    world.submit_to_flow_with(None, json!({"method": "totp"}), Csrf::FromFlow, &[], vec![("totp_code".into(), code)]).await
}

/// After a detour (the AAL2 or a refresh login), the flow the client started
/// comes back: the page after settings for it, loaded as the UI would.
#[then("Kratos answers 303 to the page after settings, for the flow it started")]
async fn redirect_after_settings_started(world: &mut ConformanceWorld) -> Result<()> {
    let flow = world.started_settings.clone().context("the client started no settings flow")?;
    let method = world.last_method.clone().unwrap_or_else(|| "totp".into());
    let expected = world.deployment().await?.after_settings_url(&method, &flow.id);
    let exchange = world.last()?;
    check::status(exchange, 303)?;
    check::equals(exchange, "Location", Some(expected.as_str()), exchange.location())?;
    super::response::load_flow_by_id(world, FlowKind::Settings, &flow.id).await
}

/// Back to the settings flow the client started (a login flow took its place).
#[when(regex = r#"^it submits (the TOTP code of the current step|"[a-z_]+=[^"]*") to the settings flow it started$"#)]
async fn submit_to_started(world: &mut ConformanceWorld, what: String) -> Result<()> {
    world.flow = Some(world.started_settings.clone().context("the client started no settings flow")?);
    world.flow_kind = Some(FlowKind::Settings);
    if what.starts_with('"') {
        return world.submit_to_flow(None, parse_fields(what.trim_matches('"')), Csrf::FromFlow, &[]).await;
    }
    let code = world.authenticator()?.late_code(0, Some(world.last_totp_code.clone()));
    world.submit_to_flow_with(None, json!({"method": "totp"}), Csrf::FromFlow, &[], vec![("totp_code".into(), code)]).await
}

/// The profile form, submitted with the traits the identity has.
#[when("it submits its profile unchanged")]
async fn submits_profile(world: &mut ConformanceWorld) -> Result<()> {
    let traits = world.identity()?.person.traits();
    world.submit_to_flow(None, json!({"method": "profile", "traits": traits}), Csrf::FromFlow, &[]).await
}

/// A new password measured against the deployment's `min_password_length`:
/// one byte under it, or exactly it. Where Kratos is to take it, the identity's
/// password becomes it.
#[when(regex = r"^it sets a new password (one byte shorter than|exactly as long as) the deployment's minimum length$")]
async fn sets_password_of_minimum_length(world: &mut ConformanceWorld, how: String) -> Result<()> {
    let minimum = world.deployment().await?.min_password_length();
    let length = if how == "one byte shorter than" { minimum.saturating_sub(1) } else { minimum };
    let password = crate::identity::strong_password(length);
    set_password(world, password, length >= minimum).await
}

/// Kratos measures a password in bytes (Go's `len`): characters of two bytes
/// each, fewer than the minimum, as many bytes as it.
#[when("it sets a new password of fewer characters than the deployment's minimum length, but as many bytes")]
async fn sets_password_of_minimum_bytes(world: &mut ConformanceWorld) -> Result<()> {
    let minimum = world.deployment().await?.min_password_length();
    anyhow::ensure!(minimum >= 2, "min_password_length {minimum}: no password has fewer characters than that and as many bytes");
    let password = crate::identity::two_byte_password(minimum.div_ceil(2));
    set_password(world, password, true).await
}

async fn set_password(world: &mut ConformanceWorld, password: String, taken: bool) -> Result<()> {
    world.password_sent = Some(password.clone());
    if taken {
        world.identity.as_mut().context("no identity")?.person.password = password.clone();
    }
    world.submit_to_flow(None, json!({"method": "password", "password": password}), Csrf::FromFlow, &[]).await
}

/// ErrorValidationPasswordMinLength, with the deployment's minimum and the
/// length the client sent, in bytes.
#[then("the password node has the message 4000032, naming the deployment's minimum length and the length sent")]
async fn password_too_short(world: &mut ConformanceWorld) -> Result<()> {
    let minimum = world.deployment().await?.min_password_length();
    let sent = world.password_sent.as_ref().context("no password was sent")?.len();
    let flow = world.flow()?;
    let exchange = world.transcript.last().context("no exchange yet")?;
    let node = flow.node("password").ok_or_else(|| check::failure(&exchange, "the flow has no node password"))?;
    check::message_ids(&exchange, "the messages of password", &node.messages, &[4000032])?;
    let message = &node.messages[0];
    check::equals(&exchange, "the message's text", format!("The password must be at least {minimum} characters long, but got {sent}."), message.text.clone())?;
    check::equals(&exchange, "the message's context", Some(json!({"min_length": minimum, "actual_length": sent})), message.context.clone())
}
