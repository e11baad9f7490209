//! Regular expressions written for Python (typedefs' `matching /.../`, pydantic's `constr`):
//! compiled with `regex` (linear time) when they fit it, and only otherwise, for what it
//! refuses (look-around, backreferences), with the backtracking `fancy-regex`, whose
//! backtracking is bounded (a match that exceeds the bound counts as no match).

use std::fmt;

#[derive(Clone)]
pub enum PyRegex {
    Linear(regex::Regex),
    Backtracking(fancy_regex::Regex),
}

impl PyRegex {
    /// Compiles `pattern` (already translated from Python's syntax, see `python_pattern`); the
    /// error is `regex`'s, which names what is wrong.
    pub fn new(pattern: &str) -> Result<PyRegex, String> {
        match regex::Regex::new(pattern) {
            Ok(regex) => Ok(PyRegex::Linear(regex)),
            Err(error) => fancy_regex::Regex::new(pattern).map(PyRegex::Backtracking).map_err(|_| error.to_string()),
        }
    }

    pub fn is_match(&self, text: &str) -> bool {
        match self {
            PyRegex::Linear(regex) => regex.is_match(text),
            PyRegex::Backtracking(regex) => regex.is_match(text).unwrap_or(false),
        }
    }

    /// Whether it matches at the start of `text` (Python's `re.match`).
    pub fn matches_at_start(&self, text: &str) -> bool {
        match self {
            PyRegex::Linear(regex) => regex.find(text).is_some_and(|m| m.start() == 0),
            PyRegex::Backtracking(regex) => regex.find(text).ok().flatten().is_some_and(|m| m.start() == 0),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            PyRegex::Linear(regex) => regex.as_str(),
            PyRegex::Backtracking(regex) => regex.as_str(),
        }
    }
}

impl fmt::Debug for PyRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PyRegex").field(&self.as_str()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_around_falls_back_to_backtracking() {
        let hostname = PyRegex::new(r"^(?:(?!-)[a-zA-Z\d-]{1,63}(?<!-))$").expect("compiles");
        assert!(matches!(hostname, PyRegex::Backtracking(_)));
        assert!(hostname.is_match("web-1"));
        assert!(!hostname.is_match("-web"));
        assert!(!hostname.is_match("web-"));
        assert!(matches!(PyRegex::new("^a+$").expect("compiles"), PyRegex::Linear(_)));
        assert!(PyRegex::new("(unclosed").is_err());
    }
}
