//! Submitting TOTP codes to the current flow (settings or login): for any time
//! step, malformed, and with the error-path variations of CSRF and headers.
//! Codes are made when the request's turn at Kratos comes, never before a wait.

use std::sync::Arc;

use anyhow::{Context, Result};
use cucumber::when;
use crate::ConformanceWorld;
use crate::client::{Body, Late};
use crate::world::Csrf;
use serde_json::{Value, json};

#[when("it submits the TOTP code of the current step")]
async fn submit_current_code(world: &mut ConformanceWorld) -> Result<()> {
    let code = world.authenticator()?.late_code(0, Some(world.last_totp_code.clone()));
    submit_late(world, code, Csrf::FromFlow, &[]).await
}

#[when(expr = "it submits the TOTP code {string}")]
async fn submit_code(world: &mut ConformanceWorld, code: String) -> Result<()> {
    submit_fixed(world, json!(code), Csrf::FromFlow).await
}

/// Kratos accepts the codes of the steps before and after the current one.
/// Relative steps mean something only within one server step, so the code is
/// made where at least a few seconds of the current step remain.
#[when(regex = r"^it submits the TOTP code of (the previous step|the next step|two steps ago|two steps ahead)$")]
async fn submit_code_of_step(world: &mut ConformanceWorld, which: String) -> Result<()> {
    let offset = match which.as_str() {
        "the previous step" => -1,
        "the next step" => 1,
        "two steps ago" => -2,
        _ => 2,
    };
    let code = world.authenticator()?.late_code(offset, Some(world.last_totp_code.clone()));
    submit_late(world, code, Csrf::FromFlow, &[]).await
}

#[when("it submits the TOTP code of the current step, padded with spaces")]
async fn submit_padded(world: &mut ConformanceWorld) -> Result<()> {
    let code = world.authenticator()?.late_code(0, Some(world.last_totp_code.clone()));
    let padded: Late = Arc::new(move || code().map(|c| format!("  {c} ")));
    submit_late(world, padded, Csrf::FromFlow, &[]).await
}

#[when(expr = "it submits the TOTP code {int} as a JSON number")]
async fn submit_as_number(world: &mut ConformanceWorld, number: u64) -> Result<()> {
    submit_fixed(world, json!(number), Csrf::FromFlow).await
}

#[when("it submits the same TOTP code again")]
async fn submit_same_again(world: &mut ConformanceWorld) -> Result<()> {
    let code = world.last_totp_code.get().context("no TOTP code was submitted yet")?;
    submit_fixed(world, json!(code), Csrf::FromFlow).await
}

#[when(regex = r"^it submits the TOTP code of the current step with (no csrf_token|a wrong csrf_token)$")]
async fn submit_code_csrf(world: &mut ConformanceWorld, csrf: String) -> Result<()> {
    let code = world.authenticator()?.late_code(0, Some(world.last_totp_code.clone()));
    let csrf = if csrf.starts_with("no") { Csrf::Omitted } else { Csrf::Wrong };
    submit_late(world, code, csrf, &[]).await
}

#[when(expr = "it submits the TOTP code of the current step with the header {string}")]
async fn submit_code_with_header(world: &mut ConformanceWorld, header: String) -> Result<()> {
    let code = world.authenticator()?.late_code(0, Some(world.last_totp_code.clone()));
    let (name, value) = header.split_once(": ").context("a header is written \"Name: value\"")?;
    submit_late(world, code, Csrf::FromFlow, &[(name.to_string(), value.to_string())]).await
}

/// The code, presented with the credentials the client kept earlier (a cookie
/// its jar has dropped since, replayed).
#[when("it submits the TOTP code of the current step with the credentials it kept")]
async fn submit_code_with_kept(world: &mut ConformanceWorld) -> Result<()> {
    let code = world.authenticator()?.late_code(0, Some(world.last_totp_code.clone()));
    let headers = super::session::kept_headers(world)?;
    submit_late(world, code, Csrf::FromFlow, &headers).await
}

/// A form body as it is, e.g. with an escape that does not decode.
#[when(expr = "it submits the form body {string}")]
async fn submit_form_body(world: &mut ConformanceWorld, body: String) -> Result<()> {
    let client = world.client()?.clone();
    let action = world.flow()?.ui.action.clone();
    let body = Body::Raw { content_type: "application/x-www-form-urlencoded".into(), bytes: body.into_bytes() };
    world.last = Some(client.submit_body(&action, body, &[]).await?);
    Ok(())
}

/// A body that is JSON but not an object, e.g. `42`.
#[when(expr = "it submits the JSON body {string}")]
async fn submit_json_body(world: &mut ConformanceWorld, body: String) -> Result<()> {
    let client = world.client()?.clone();
    let action = world.flow()?.ui.action.clone();
    let body = Body::Raw { content_type: "application/json".into(), bytes: body.into_bytes() };
    world.last = Some(client.submit_body(&action, body, &[]).await?);
    Ok(())
}

async fn submit_late(world: &mut ConformanceWorld, code: Late, csrf: Csrf, headers: &[(String, String)]) -> Result<()> {
    world.submit_to_flow_with(None, json!({"method": "totp"}), csrf, headers, vec![("totp_code".into(), code)]).await
}

async fn submit_fixed(world: &mut ConformanceWorld, code: Value, csrf: Csrf) -> Result<()> {
    world.submit_to_flow(None, json!({"method": "totp", "totp_code": code}), csrf, &[]).await
}
