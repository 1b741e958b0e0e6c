//! The Kratos under test itself: health, version, and what its configuration
//! promises.

use anyhow::Result;
use cucumber::{then, when};
use crate::ConformanceWorld;
use crate::check;
use crate::client::{Http, Request};
use crate::deployment::expectations;
use crate::kratos::{Kratos, pinned_version};

#[when(expr = "Kratos' public API is asked for {string}")]
async fn ask_public(world: &mut ConformanceWorld, path: String) -> Result<()> {
    let kratos = world.kratos().await?;
    world.last = Some(plain_http(world, &kratos).send(Request::get(kratos.public(&path))).await?);
    Ok(())
}

#[when(expr = "Kratos' admin API is asked for {string}")]
async fn ask_admin(world: &mut ConformanceWorld, path: String) -> Result<()> {
    let kratos = world.kratos().await?;
    world.last = Some(plain_http(world, &kratos).send(Request::get(kratos.admin(&path))).await?);
    Ok(())
}

#[then(expr = "Kratos answers {int} with the JSON {string}")]
async fn answers_json(world: &mut ConformanceWorld, status: u16, json: String) -> Result<()> {
    let exchange = world.last()?;
    check::status(exchange, status)?;
    let expected: serde_json::Value = serde_json::from_str(&json)?;
    check::equals(exchange, "the body", &expected, &exchange.json()?)
}

#[then("it reports the Kratos version pinned in kratos-build/go.mod")]
async fn reports_pinned_version(world: &mut ConformanceWorld) -> Result<()> {
    let exchange = world.last()?;
    check::status(exchange, 200)?;
    let expected = serde_json::json!({ "version": pinned_version() });
    check::equals(exchange, "the version", &expected, &exchange.json()?)
}

/// What the team expects of its deployment (`expect:` in conformance.yml, and
/// by default TOTP on and no return URL admitting any host), against what its
/// configuration does: each difference in words, with its key.
#[then("the deployment's configuration meets the team's expectations")]
async fn meets_expectations(world: &mut ConformanceWorld) -> Result<()> {
    let deployment = world.deployment().await?;
    let problems = expectations::check(&deployment);
    if problems.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    anyhow::bail!("the deployment does not do what its team expects: {}", listed.join("; "))
}

fn plain_http(world: &ConformanceWorld, kratos: &Kratos) -> Http {
    Http::new(false, world.transcript.clone(), kratos.limits.http_timeout).with_gate(kratos.gate.clone())
}
