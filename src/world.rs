//! The state of one scenario. Each scenario gets a fresh world: its own clients,
//! cookie jars and identities, so scenarios share nothing but the Kratos instance
//! of their profile and can run concurrently.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};

use crate::client::{Client, ClientKind, Exchange, Flow, Transcript};
use crate::kratos::{self, Kratos};

#[derive(Debug, Default, cucumber::World)]
pub struct ConformanceWorld {
    /// The profile this scenario runs against, from its `@profile:<name>` tag.
    pub profile: String,
    kratos: Option<Arc<Kratos>>,
    /// Every exchange of the scenario, for failure reports.
    pub transcript: Transcript,
    /// The client the scenario's steps speak through.
    pub client: Option<Client>,
    /// The response to the last request.
    pub last: Option<Exchange>,
    /// The flow the scenario is working on.
    pub flow: Option<Flow>,
}

impl ConformanceWorld {
    /// The Kratos of this scenario's profile (started on first use).
    pub async fn kratos(&mut self) -> Result<Arc<Kratos>> {
        if let Some(kratos) = &self.kratos {
            return Ok(Arc::clone(kratos));
        }
        let profile = if self.profile.is_empty() { kratos::DEFAULT_PROFILE.to_string() } else { self.profile.clone() };
        let kratos = kratos::instances().get(&profile).await.map_err(|e| anyhow!("the Kratos under test is not available: {e}"))?;
        self.kratos = Some(Arc::clone(&kratos));
        Ok(kratos)
    }

    pub async fn new_client(&mut self, kind: ClientKind) -> Result<&Client> {
        let kratos = self.kratos().await?;
        Ok(self.client.insert(Client::new(kind, kratos, self.transcript.clone())))
    }

    pub fn client(&self) -> Result<&Client> {
        self.client.as_ref().context("no client yet: start the scenario with \"Given a <browser|SPA|native> client\"")
    }

    pub fn last(&self) -> Result<&Exchange> {
        self.last.as_ref().context("no request was made yet")
    }

    pub fn flow(&self) -> Result<&Flow> {
        self.flow.as_ref().context("no flow yet")
    }
}
