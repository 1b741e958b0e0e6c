//! The Kratos under test itself: health and version.

use anyhow::Result;
use cucumber::{then, when};
use kratos_conformance::ConformanceWorld;
use kratos_conformance::check;
use kratos_conformance::client::{Http, Request};
use kratos_conformance::kratos::{Backend, Kratos, instances, pinned_version};

#[when(expr = "Kratos' public API is asked for {string}")]
async fn ask_public(world: &mut ConformanceWorld, path: String) -> Result<()> {
    let kratos = world.kratos().await?;
    world.last = Some(plain_http(world, &kratos).send(Request::get(kratos.public(&path))).await?);
    Ok(())
}

#[when(expr = "Kratos' admin API is asked for {string}")]
async fn ask_admin(world: &mut ConformanceWorld, path: String) -> Result<()> {
    let kratos = world.kratos().await?;
    let sent = plain_http(world, &kratos).send(Request::get(kratos.admin(&path))).await;
    match sent {
        Ok(exchange) => world.last = Some(exchange),
        // An external deployment need not expose its admin API to the suite.
        Err(e) if kratos.backend == Backend::External => {
            eprintln!("note: the admin API of the external deployment is not reachable ({e}); its checks are skipped");
            world.last = None;
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

#[then(expr = "Kratos answers {int} with the JSON {string}")]
async fn answers_json(world: &mut ConformanceWorld, status: u16, json: String) -> Result<()> {
    let Some(exchange) = world.last.as_ref() else { return Ok(()) };
    check::status(exchange, status)?;
    let expected: serde_json::Value = serde_json::from_str(&json)?;
    check::equals(exchange, "the body", &expected, &exchange.json()?)
}

#[then("it reports the Kratos version pinned in kratos-build/go.mod")]
async fn reports_pinned_version(world: &mut ConformanceWorld) -> Result<()> {
    let Some(exchange) = world.last.as_ref() else { return Ok(()) };
    check::status(exchange, 200)?;
    let expected = serde_json::json!({ "version": pinned_version() });
    check::equals(exchange, "the version", &expected, &exchange.json()?)
}

fn plain_http(world: &ConformanceWorld, kratos: &Kratos) -> Http {
    Http::new(false, world.transcript.clone(), instances().settings.http_timeout).with_gate(kratos.gate.clone())
}
