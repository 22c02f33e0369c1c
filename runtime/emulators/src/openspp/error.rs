//! Odoo's exceptions as a JSON-RPC client sees them: the exception's `module.Class` name and
//! its message, inside the error envelope Odoo builds.

use serde_json::{json, Value};

/// An exception the emulated server raises. `name` is what `serialize_exception` puts in
/// `error.data.name`: `f'{module}.{name}'` of the class, so Odoo's own exceptions are
/// `odoo.exceptions.*`, Python's are `builtins.*` and PostgreSQL's are `psycopg2.errors.*`
/// (O17:odoo/http.py:398-408).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OdooError {
    pub name: String,
    pub message: String,
}

impl OdooError {
    pub fn new(name: &str, message: impl Into<String>) -> Self {
        OdooError {
            name: name.into(),
            message: message.into(),
        }
    }

    /// Bad credentials or the login cooldown (O17:odoo/exceptions.py:55-71).
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new("odoo.exceptions.AccessDenied", message)
    }

    /// A right the user lacks (O17:odoo/exceptions.py:74).
    pub fn access_error(message: impl Into<String>) -> Self {
        Self::new("odoo.exceptions.AccessError", message)
    }

    /// O17:odoo/exceptions.py:18-29.
    pub fn user_error(message: impl Into<String>) -> Self {
        Self::new("odoo.exceptions.UserError", message)
    }

    /// A constraint (O17:odoo/exceptions.py:104).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("odoo.exceptions.ValidationError", message)
    }

    /// O17:odoo/exceptions.py:95.
    pub fn missing(message: impl Into<String>) -> Self {
        Self::new("odoo.exceptions.MissingError", message)
    }

    /// Python's `ValueError`: unknown fields, wrong selection values.
    pub fn value_error(message: impl Into<String>) -> Self {
        Self::new("builtins.ValueError", message)
    }

    /// What the server answers once its own retries of a concurrent update ran out
    /// (O17:odoo/service/model.py:22-23, 117-174): the psycopg2 class and PostgreSQL's text.
    pub fn serialization_failure() -> Self {
        Self::new(
            "psycopg2.errors.SerializationFailure",
            "could not serialize access due to concurrent update",
        )
    }

    /// `error.data` as `serialize_exception` builds it (O17:odoo/http.py:398-408): there is
    /// no top-level `debug`; `arguments` is `exception.args`, i.e. `[message]`.
    pub fn data(&self) -> Value {
        let class = self.name.rsplit('.').next().unwrap_or(&self.name);
        json!({
            "name": self.name,
            "debug": format!(
                "Traceback (most recent call last):\n  File \"/opt/odoo/odoo/http.py\", line 1784, in _serve_db\n    return service_model.retrying(self._serve_ir_http, self.env)\n{class}: {}\n",
                self.message
            ),
            "message": self.message,
            "arguments": [self.message],
            "context": {},
        })
    }
}

/// Python's `repr` of a JSON value, as Odoo prints domain leaves in its messages
/// (`('x', '=', 1)`: strings in single quotes, `True`, `None`).
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => py_str(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(py_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", py_str(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A domain leaf as Python prints the tuple.
pub fn py_leaf(leaf: &[Value]) -> String {
    let parts: Vec<String> = leaf.iter().map(py_repr).collect();
    format!("({})", parts.join(", "))
}

fn py_str(s: &str) -> String {
    // Python picks double quotes only when the text has a single quote and no double one.
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_print_as_python_tuples() {
        assert_eq!(
            py_leaf(&[json!("x"), json!("="), json!("it's")]),
            r#"('x', '=', "it's")"#
        );
        assert_eq!(
            py_leaf(&[json!("id"), json!("in"), json!([1, 2])]),
            "('id', 'in', [1, 2])"
        );
        assert_eq!(
            py_leaf(&[json!("a"), json!("="), json!(false)]),
            "('a', '=', False)"
        );
    }
}
