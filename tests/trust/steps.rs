//! Steps only the suite's own trust tests use: each fails on purpose, in a
//! check that holds a secret, the way a real check would print it.

use anyhow::{Context, Result};
use cucumber::then;
use kratos_conformance::ConformanceWorld;
use kratos_conformance::check;
use kratos_conformance::totp::decode_qr_data_uri;
use serde_json::Value;

#[then("(self-test) the QR code is compared with an otpauth URL of another secret")]
async fn qr_mismatch(world: &mut ConformanceWorld) -> Result<()> {
    let exchange = world.transcript.last().context("no exchange yet")?;
    let node = world.flow()?.node_by_id("totp_qr").context("no totp_qr node")?;
    let src = node.attr_str("src").unwrap_or_default().to_string();
    let content = decode_qr_data_uri(&src)?;
    check::equals(&exchange, "the otpauth URL in the QR code", "otpauth://totp/x:y?secret=AAAAAAAAAAAAAAAA", content.as_str())?;
    check::equals(&exchange, "the QR code", "data:image/png;base64,AAAA", src.as_str())
}

#[then("(self-test) the recovery codes are compared with others")]
async fn codes_mismatch(world: &mut ConformanceWorld) -> Result<()> {
    let codes = world.recovery_codes.clone();
    anyhow::ensure!(!codes.is_empty(), "the identity has no recovery codes");
    let exchange = world.transcript.last().context("no exchange yet")?;
    check::equals(&exchange, "the recovery codes", vec!["00000000".to_string()], codes)
}

#[then("(self-test) the logout token is compared with another")]
async fn logout_token_mismatch(world: &mut ConformanceWorld) -> Result<()> {
    let exchange = world.last()?;
    let token = exchange.json()?["logout_token"].as_str().unwrap_or_default().to_string();
    check::equals(exchange, "logout_token", "ory_lo_notthisone", token.as_str())
}

#[then("(self-test) a step fails with the password, the TOTP secret and the session cookie in its message")]
async fn secrets_in_message(world: &mut ConformanceWorld) -> Result<()> {
    let password = world.identity()?.person.password.clone();
    let secret = world.authenticator()?.secret().to_string();
    let kratos = world.kratos().await?;
    let cookies = world.client()?.http.cookies(&kratos.public_url);
    let session: Vec<String> = cookies.iter().map(|c| format!("{}={}", c.name(), c.value())).collect();
    let exchange = world.transcript.last().context("no exchange yet")?;
    let body: Value = serde_json::json!({"password": password, "secret": secret});
    Err(check::failure(
        &exchange,
        format!("password {password}, TOTP secret {secret}, cookies {session:?}, as JSON {body}, debug {:?}", world.identity()?.person),
    ))
}
