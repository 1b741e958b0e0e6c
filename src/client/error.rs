//! Kratos' error body: `{"error": {id?, code, status, reason?, message, details?}}`,
//! plus the top-level fields some errors add (`redirect_browser_to`, `use_flow_id`, ...).

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct KratosError {
    pub raw: Value,
}

impl KratosError {
    /// `Some` when the JSON is an error body.
    pub fn from_json(raw: &Value) -> Option<KratosError> {
        raw.get("error").filter(|e| e.is_object()).map(|_| KratosError { raw: raw.clone() })
    }

    fn error(&self) -> &Value {
        &self.raw["error"]
    }

    /// The error ID, e.g. `security_csrf_violation`; many errors have none.
    pub fn id(&self) -> Option<&str> {
        self.error().get("id").and_then(Value::as_str)
    }

    pub fn code(&self) -> Option<u64> {
        self.error().get("code").and_then(Value::as_u64)
    }

    pub fn reason(&self) -> Option<&str> {
        self.error().get("reason").and_then(Value::as_str)
    }

    pub fn message(&self) -> Option<&str> {
        self.error().get("message").and_then(Value::as_str)
    }

    pub fn redirect_browser_to(&self) -> Option<&str> {
        self.raw.get("redirect_browser_to").and_then(Value::as_str)
    }
}
