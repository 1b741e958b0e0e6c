//! The one redaction point: a cucumber writer that every event passes through
//! before any other writer (console, JSON, JUnit, flow documentation, live
//! failures) sees it. Step failures and scenario logs are redacted here, so a
//! check that prints a secret, however it formats it, cannot leak it.

use cucumber::event::{self, Cucumber, Feature, Rule, RetryableScenario, Scenario, Step, StepError};
use cucumber::{Event, World, Writer, parser, writer};

use crate::redact;

/// Redacts every event, then hands it to `inner`.
#[derive(Debug)]
pub struct Redacting<Wr> {
    inner: Wr,
}

impl<Wr> Redacting<Wr> {
    pub fn new(inner: Wr) -> Self {
        Redacting { inner }
    }
}

impl<W: World, Wr: Writer<W>> Writer<W> for Redacting<Wr> {
    type Cli = Wr::Cli;

    async fn handle_event(&mut self, event: parser::Result<Event<Cucumber<W>>>, cli: &Self::Cli) {
        let event = event.map(|e| e.map(redact_cucumber)).map_err(|e| match e {
            parser::Error::Parsing(p) => parser::Error::Parsing(p),
            other => other,
        });
        self.inner.handle_event(event, cli).await;
    }
}

impl<W, Val, Wr> writer::Arbitrary<W, Val> for Redacting<Wr>
where
    W: World,
    Wr: writer::Arbitrary<W, String>,
    Val: AsRef<str>,
{
    async fn write(&mut self, val: Val) {
        self.inner.write(redact::text(val.as_ref())).await;
    }
}

impl<W: World, Wr: writer::Stats<W>> writer::Stats<W> for Redacting<Wr> {
    fn passed_steps(&self) -> usize {
        self.inner.passed_steps()
    }
    fn skipped_steps(&self) -> usize {
        self.inner.skipped_steps()
    }
    fn failed_steps(&self) -> usize {
        self.inner.failed_steps()
    }
    fn retried_steps(&self) -> usize {
        self.inner.retried_steps()
    }
    fn parsing_errors(&self) -> usize {
        self.inner.parsing_errors()
    }
    fn hook_errors(&self) -> usize {
        self.inner.hook_errors()
    }
}

impl<Wr: writer::Normalized> writer::Normalized for Redacting<Wr> {}

fn redact_cucumber<W>(event: Cucumber<W>) -> Cucumber<W> {
    match event {
        Cucumber::Feature(feature, event) => Cucumber::Feature(feature, redact_feature(event)),
        other => other,
    }
}

fn redact_feature<W>(event: Feature<W>) -> Feature<W> {
    match event {
        Feature::Scenario(scenario, event) => Feature::Scenario(scenario, redact_retryable(event)),
        Feature::Rule(rule, Rule::Scenario(scenario, event)) => Feature::Rule(rule, Rule::Scenario(scenario, redact_retryable(event))),
        other => other,
    }
}

fn redact_retryable<W>(event: RetryableScenario<W>) -> RetryableScenario<W> {
    RetryableScenario { event: redact_scenario(event.event), retries: event.retries }
}

fn redact_scenario<W>(event: Scenario<W>) -> Scenario<W> {
    match event {
        Scenario::Step(step, event) => Scenario::Step(step, redact_step(event)),
        Scenario::Background(step, event) => Scenario::Background(step, redact_step(event)),
        Scenario::Log(text) => Scenario::Log(redact::text(&text)),
        Scenario::Hook(kind, event::Hook::Failed(world, info)) => {
            Scenario::Hook(kind, event::Hook::Failed(world, redacted_info(&info)))
        }
        other => other,
    }
}

fn redact_step<W>(event: Step<W>) -> Step<W> {
    match event {
        Step::Failed(captures, location, world, StepError::Panic(info)) => {
            Step::Failed(captures, location, world, StepError::Panic(redacted_info(&info)))
        }
        other => other,
    }
}

/// A panic payload (a step's error, as text) with every secret redacted.
fn redacted_info(info: &event::Info) -> event::Info {
    let text = info
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| info.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(the step failed with a payload that is not text)".into());
    std::sync::Arc::new(redact::text(&text))
}

/// Writes a text to the report folder (a browser's console log) with every
/// secret redacted: files beside the reports pass this point like events do.
pub fn write_text(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, redact::text(text))
}

/// Writes a screenshot to the report folder, unless it shows a QR code: the
/// TOTP QR code encodes the secret, and a picture of it cannot be redacted.
pub fn write_png(path: &std::path::Path, png: &[u8]) -> Result<(), String> {
    if crate::totp::png_shows_qr(png) {
        return Err(format!("{} was not written: the page still shows a QR code (it may encode a TOTP secret)", path.display()));
    }
    std::fs::write(path, png).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The text of a step error, as writers show it.
pub fn error_text(error: &StepError) -> String {
    match error {
        StepError::Panic(info) => info
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_step_is_redacted() {
        redact::register("SUPERSECRETVALUE42");
        let info: event::Info = std::sync::Arc::new("expected otpauth://x?secret=SUPERSECRETVALUE42".to_string());
        let step: Step<()> = Step::Failed(None, None, None, StepError::Panic(info));
        let Step::Failed(_, _, _, error) = redact_step(step) else { panic!("still failed") };
        assert_eq!(error_text(&error), "expected otpauth://x?secret=[redacted]");
    }
}
