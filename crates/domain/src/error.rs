use std::fmt;

/// Input that is well-formed but breaks a rule. `field` names the offending
/// field so a person (or a form) can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// A stable, machine-readable reason (`invalid_field`, `unknown_sku`, …).
    pub code: &'static str,
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: "invalid_field", field: field.into(), message: message.into() }
    }

    /// The same problem under a more specific code.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    /// The same problem, reported under a field nested in a larger input
    /// (`lines[2].quantity`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() { prefix.to_owned() } else { format!("{prefix}.{}", self.field) };
        self
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Invalid {}
