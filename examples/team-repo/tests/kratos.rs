//! Acme's Kratos, verified: the suite's built-in features and Acme's own
//! (`features/`), against Acme's configuration (`kratos/`). Every setting of the
//! suite still comes from the environment (`KRATOS_BACKEND`, `KRATOS_PUBLIC_URL`, …).

use anyhow::{Result, ensure};
use cucumber::then;
use kratos_conformance::ConformanceWorld;

fn main() -> std::process::ExitCode {
    kratos_conformance::runner::Suite::new()
        .config_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/kratos"))
        .features(concat!(env!("CARGO_MANIFEST_DIR"), "/features"))
        .run()
}

/// Acme's own rule: nobody is signed in who has not accepted its terms of
/// service (the schema makes `tos_accepted` a required `const: true`).
#[then("the signed-in customer has accepted Acme's terms of service")]
async fn accepted_terms(world: &mut ConformanceWorld) -> Result<()> {
    let whoami = world.client()?.whoami().await?;
    kratos_conformance::check::status(&whoami, 200)?;
    let accepted = whoami.json()?.pointer("/identity/traits/tos_accepted").cloned();
    ensure!(accepted == Some(serde_json::Value::Bool(true)), "whoami's identity has tos_accepted {accepted:?}, not true");
    Ok(())
}
