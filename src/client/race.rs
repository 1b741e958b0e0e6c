//! Requests sent at the same moment: each client has prepared what it sends
//! (its flow), then all are released together, as far as the instance's
//! concurrency allows (`KRATOS_MAX_CONCURRENT_REQUESTS`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Barrier;

use super::{Client, Exchange, Flow, Late};

/// One client's submit in a race.
pub struct Entrant {
    pub client: Client,
    pub flow: Flow,
    pub fields: Value,
    pub late: Vec<(String, Late)>,
}

/// Submits every entrant's fields to its flow at the same moment; the answers
/// in the entrants' order.
pub async fn submit_at_once(entrants: Vec<Entrant>) -> Vec<anyhow::Result<Exchange>> {
    let barrier = Arc::new(Barrier::new(entrants.len()));
    let runs = entrants.into_iter().map(|entrant| {
        let barrier = Arc::clone(&barrier);
        async move {
            barrier.wait().await;
            entrant.client.submit_flow_with(&entrant.flow, entrant.fields, entrant.late).await
        }
    });
    futures::future::join_all(runs).await
}

/// The median and the 95th percentile of some durations.
pub fn percentiles(mut durations: Vec<Duration>) -> (Duration, Duration) {
    if durations.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    durations.sort();
    let at = |q: f64| durations[((durations.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_hundred() {
        let durations: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentiles(durations), (Duration::from_millis(51), Duration::from_millis(95)));
    }
}
