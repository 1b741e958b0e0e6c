//! Enrolling second factors through the settings flow, as set-up steps: pairing
//! an authenticator app and generating recovery codes. What these flows answer
//! is asserted step by step in enrollment.feature; here they must just work.

use anyhow::Result;
use serde_json::{Value, json};

use super::{Client, FlowKind};
use crate::totp::Authenticator;

impl Client {
    /// Pairs a new authenticator app with the signed-in identity.
    pub async fn pair_totp(&self) -> Result<Authenticator> {
        let started = self.start_flow(FlowKind::Settings, &[]).await?;
        let flow = self.flow_from(FlowKind::Settings, &started).await?;
        let exchange = self.http.transcript().last().unwrap_or(started);
        let secret = flow
            .node_by_id("totp_secret_key")
            .and_then(|n| n.attributes.pointer("/text/context/secret")?.as_str())
            .ok_or_else(|| exchange.failure("the settings flow offers no TOTP secret"))?;
        let authenticator = Authenticator::from_secret(secret)?;
        let code = authenticator.late_code(0, None);
        let paired = self.submit_flow_with(&flow, json!({"method": "totp"}), vec![("totp_code".into(), code)]).await?;
        self.expect_settings_saved(&paired)?;
        Ok(authenticator)
    }

    /// Generates and confirms recovery codes; returns them.
    pub async fn generate_recovery_codes(&self) -> Result<Vec<String>> {
        let flow = self.start_and_load(FlowKind::Settings, &[]).await?;
        let generated = self.submit_flow(&flow, json!({"lookup_secret_regenerate": true})).await?;
        let flow = self.flow_from(FlowKind::Settings, &generated).await?;
        let codes: Vec<String> = flow
            .node_by_id("lookup_secret_codes")
            .and_then(|n| n.attributes.pointer("/text/context/secrets")?.as_array().cloned())
            .ok_or_else(|| generated.failure("the settings flow shows no recovery codes"))?
            .iter()
            .filter_map(|s| s.pointer("/context/secret").and_then(Value::as_str).map(str::to_string))
            .collect();
        let confirmed = self.submit_flow(&flow, json!({"lookup_secret_confirm": true})).await?;
        self.expect_settings_saved(&confirmed)?;
        Ok(codes)
    }

    fn expect_settings_saved(&self, answer: &super::Exchange) -> Result<()> {
        let saved = match self.kind {
            super::ClientKind::Browser => answer.status.as_u16() == 303,
            _ => answer.status.as_u16() == 200 && answer.json().is_ok_and(|b| b["state"] == "success"),
        };
        if !saved {
            return Err(answer.failure(format!("the settings flow did not save ({})", answer.status)));
        }
        Ok(())
    }
}
