//! Why the Kratos under test is not available: the one error of set-up, at the
//! bottom of the library, so that the deployment description (which reports a
//! configuration it cannot read with it) does not import the launcher.

/// Why the Kratos under test is not available. Each message is one line that says
/// what is wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Engine(String),
    #[error("{0}")]
    Image(String),
    #[error("{0}")]
    Start(String),
    #[error("{message}\n--- the last lines of Kratos' log ---\n{log_tail}")]
    NotReady { message: String, log_tail: String },
    #[error("{0}")]
    Unreachable(String),
}

/// A message of several lines (a program's output) as one line.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
