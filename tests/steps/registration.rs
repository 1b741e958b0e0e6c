//! Self-service registration (two steps in Kratos v1.3.1: profile, then password).

use anyhow::Result;
use cucumber::when;
use kratos_conformance::identity::Person;
use kratos_conformance::world::Csrf;
use kratos_conformance::ConformanceWorld;
use serde_json::json;

#[when("it submits the registration profile step with a fake person's traits")]
async fn profile_step(world: &mut ConformanceWorld) -> Result<()> {
    let person = Person::fake();
    let fields = json!({"method": "profile", "traits": person.traits()});
    world.people.push(person.clone());
    world.person = Some(person);
    world.submit_to_flow(None, fields, Csrf::FromFlow, &[]).await
}

#[when("it submits the registration password step with the person's password")]
async fn password_step(world: &mut ConformanceWorld) -> Result<()> {
    let person = world.person.clone().expect("the profile step chose a person");
    let fields = json!({"method": "password", "traits": person.traits(), "password": person.password});
    world.submit_to_flow(None, fields, Csrf::FromFlow, &[]).await?;
    forget_after_the_scenario(world).await
}

/// The identity registration created is deleted when the scenario ends, like
/// those created through the admin API.
async fn forget_after_the_scenario(world: &mut ConformanceWorld) -> Result<()> {
    let from_body = world.last()?.json().ok().and_then(|b| b.pointer("/session/identity/id")?.as_str().map(str::to_string));
    let id = match from_body {
        Some(id) => Some(id),
        None => {
            let mut client = world.client()?.clone();
            client.keep_session_token(world.last()?);
            let whoami = client.whoami().await?;
            whoami.json().ok().and_then(|b| b.pointer("/identity/id")?.as_str().map(str::to_string))
        }
    };
    world.created_identities.extend(id);
    Ok(())
}
