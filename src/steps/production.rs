//! What only a deployment of several replicas behind a TLS-terminating proxy
//! can answer: requests sent to one replica alone, a replica killed and
//! started again, and what Kratos makes of the headers the proxy adds.

use anyhow::{Result, anyhow};
use cucumber::{given, then, when};
use crate::ConformanceWorld;
use crate::check;
use crate::client::{Body, FlowKind};
use reqwest::Method;

#[given(expr = "the requests go to replica {int}")]
#[when(expr = "the requests go to replica {int}")]
async fn to_replica(world: &mut ConformanceWorld, number: usize) -> Result<()> {
    world.send_to_replica(Some(number)).await
}

#[when("the requests go to the deployment as a whole")]
async fn to_deployment(world: &mut ConformanceWorld) -> Result<()> {
    world.send_to_replica(None).await
}

#[when(expr = "replica {int} is killed")]
async fn replica_killed(world: &mut ConformanceWorld, number: usize) -> Result<()> {
    world.kill_replica(number).await
}

#[when(expr = "replica {int} is started again")]
async fn replica_restarted(world: &mut ConformanceWorld, number: usize) -> Result<()> {
    world.restart_replica(number).await.map(|_| ())
}

/// whoami at each replica alone, with the client's cookie or token.
#[then(expr = "every replica accepts the client's session at {string} with the methods {string}")]
async fn every_replica_accepts(world: &mut ConformanceWorld, aal: String, methods: String) -> Result<()> {
    let kratos = world.kratos().await?;
    for number in 1..=kratos.replicas.len() {
        let mut client = world.client()?.clone();
        client.send_to_replica(Some(number))?;
        let logged_before = kratos.proxy.as_ref().map(|proxy| proxy.replicas_that_answered(world.transcript.id()).len());
        let whoami = client.whoami().await?;
        check::status(&whoami, 200).map_err(|e| anyhow!("replica {number}: {e}"))?;
        super::session::session_is(&whoami, &whoami.json()?, &aal, &methods).map_err(|e| anyhow!("replica {number}: {e}"))?;
        if let (Some(proxy), Some(before)) = (&kratos.proxy, logged_before) {
            let answered = proxy.replicas_that_answered_once(world.transcript.id(), |a| a.len() > before).await.last().copied();
            check::equals(&whoami, "the replica that answered (nginx's access log)", Some(number), answered)?;
        }
    }
    Ok(())
}

/// Where the suite runs the proxy, its access log says which replica
/// answered each request; a team's own proxy is not read (its replicas are
/// the URLs the team named).
#[then(regex = r"^the proxy sent its requests to replica (\d+) and to replica (\d+)$")]
async fn proxy_sent_to(world: &mut ConformanceWorld, first: usize, second: usize) -> Result<()> {
    let kratos = world.kratos().await?;
    let Some(proxy) = &kratos.proxy else { return Ok(()) };
    let answered = proxy.replicas_that_answered_once(world.transcript.id(), |a| a.contains(&first) && a.contains(&second)).await;
    let exchange = world.transcript.last().ok_or_else(|| anyhow!("no request was made yet"))?;
    for number in [first, second] {
        if !answered.contains(&number) {
            return Err(check::failure(&exchange, format!("replica {number} answered none of the scenario's requests (nginx's access log: replicas {answered:?})")));
        }
    }
    Ok(())
}

/// A login flow started at a replica's own plain-HTTP address, with what the
/// proxy adds to every request it sends on (or without `X-Forwarded-Proto`,
/// as a proxy that drops it).
#[when(regex = r"^it starts a login flow at replica (\d+)'s own address, with the headers the proxy adds( but X-Forwarded-Proto)?$")]
async fn login_at_replica_directly(world: &mut ConformanceWorld, number: usize, without_proto: String) -> Result<()> {
    let kratos = world.kratos().await?;
    let replica = kratos.replica(number).map_err(|e| anyhow!(e))?;
    let direct = replica.direct_url().ok_or_else(|| anyhow!("{} is not a replica the suite started: it has no address of its own", replica.name))?;
    let public = &kratos.public_url;
    let host = match public.port() {
        Some(port) => format!("{}:{port}", public.host_str().unwrap_or_default()),
        None => public.host_str().unwrap_or_default().to_string(),
    };
    let client = world.client()?.clone();
    let mut request = client
        .request(Method::GET, direct.join("self-service/login/browser")?, Body::Empty)
        .header("host", host.clone())
        .header("x-forwarded-host", host)
        .header("x-forwarded-for", "203.0.113.7");
    if without_proto.is_empty() {
        request = request.header("x-forwarded-proto", public.scheme());
    }
    let exchange = client.http.send(request).await?;
    super::login::load_started(world, FlowKind::Login, exchange).await
}

/// `request_url`: where Kratos believes the client sent the request that
/// started the flow (its scheme from `X-Forwarded-Proto`, its host from
/// `X-Forwarded-Host`), which a step-up sends the client back to.
#[then(regex = r#"^the flow's request URL is (https?):// on the deployment's public address, at "(.*)"$"#)]
async fn request_url_is(world: &mut ConformanceWorld, scheme: String, path: String) -> Result<()> {
    let kratos = world.kratos().await?;
    let flow = world.flow()?;
    let exchange = world.transcript.last().expect("a flow came from an exchange");
    let mut expected = kratos.public_url.join(&path)?;
    expected.set_scheme(&scheme).map_err(|_| anyhow!("{scheme} is not a scheme for {expected}"))?;
    check::equals(&exchange, "request_url", Some(expected.as_str()), flow.str_field("request_url"))
}

#[then(regex = r#"^the flow's request URL is on the deployment's public address, at "(.*)"$"#)]
async fn request_url_on_public(world: &mut ConformanceWorld, path: String) -> Result<()> {
    let scheme = world.kratos().await?.public_url.scheme().to_string();
    request_url_is(world, scheme, path).await
}
