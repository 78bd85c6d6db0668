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
    /// (`lines[2].quantity`); a message that begins with the field's name
    /// (`quantity must be…`) then begins with its whole path.
    pub fn within(mut self, prefix: &str) -> Self {
        let field = if self.field.is_empty() { prefix.to_owned() } else { format!("{prefix}.{}", self.field) };
        if !self.field.is_empty()
            && let Some(rest) = self.message.strip_prefix(self.field.as_str())
            && rest.starts_with(' ')
        {
            self.message = format!("{field}{rest}");
        }
        self.field = field;
        self
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Invalid {}

#[cfg(test)]
mod tests {
    use super::Invalid;

    #[test]
    fn a_nested_problem_names_its_whole_path() {
        let e = Invalid::new("quantity", "quantity must be between 1 and 1000000.").within("lines[2]");
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("lines[2].quantity", "lines[2].quantity must be between 1 and 1000000.")
        );
        let e = Invalid::new("quantity", "quantityless words stay.").within("lines[0]");
        assert_eq!(e.message, "quantityless words stay.");
        let e = Invalid::new("sku", "No product has the SKU X.").within("lines[0]");
        assert_eq!((e.field.as_str(), e.message.as_str()), ("lines[0].sku", "No product has the SKU X."));
        let e = Invalid::new("", "Something is wrong.").within("customer");
        assert_eq!((e.field.as_str(), e.message.as_str()), ("customer", "Something is wrong."));
    }
}
