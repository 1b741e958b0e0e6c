//! Checks on the last response that hold for any flow: status, cookies.

use anyhow::Result;
use cucumber::then;
use kratos_conformance::ConformanceWorld;
use kratos_conformance::check;
use sha2::{Digest, Sha256};

#[then(expr = "Kratos answers {int}")]
async fn answers(world: &mut ConformanceWorld, status: u16) -> Result<()> {
    check::status(world.last()?, status)
}

/// Kratos names its CSRF cookie `csrf_token_` + the SHA-256 (hex) of its public
/// base URL, so the name changes with the URL, even with its trailing slash.
#[then(expr = "it sets the CSRF cookie with the attributes {string}")]
async fn sets_csrf_cookie(world: &mut ConformanceWorld, attributes: String) -> Result<()> {
    let kratos = world.kratos().await?;
    let name = format!("csrf_token_{:x}", Sha256::digest(kratos.public_url.as_str()));
    let exchange = world.last()?;
    let cookie = check::set_cookie(exchange, &name)?;
    check::cookie_attributes(exchange, &cookie, &attributes)
}

#[then("Kratos sets no cookie")]
async fn sets_no_cookie(world: &mut ConformanceWorld) -> Result<()> {
    check::no_cookies_set(world.last()?)
}
