//! exec's plugins: `exec::in_shell` wraps a command so that it runs in `sh -c` (quoted as
//! Python's `subprocess.list2cmdline` quotes, as exec 2.1.1 does), and `exec::shlex_join`
//! joins words into one command line a POSIX shell splits back into the same words (Python's
//! `shlex.join`).

use cairn_compiler::compile::plugins::{Param, ParamType, PluginFailure, PluginRegistry};
use cairn_compiler::compile::value::Value;

pub fn register(registry: &mut PluginRegistry) {
    registry.register("exec::in_shell", vec![Param::new("command", ParamType::String)], |_, args| match &args[0] {
        Value::Str(command) => Ok(Value::str(&list2cmdline(&["sh", "-c", command]))),
        other => Err(PluginFailure::Error(format!("expected a string command, got {other}"))),
    });
    registry.register("exec::shlex_join", vec![Param::new("cmd", ParamType::List)], |_, args| {
        let Value::List(items) = &args[0] else {
            return Err(PluginFailure::Error(format!("expected a list of strings, got {}", args[0])));
        };
        let mut words = Vec::new();
        for item in items.iter() {
            match item {
                Value::Str(word) => words.push(quote(word)),
                other => return Err(PluginFailure::Error(format!("expected a list of strings, got {other} in it"))),
            }
        }
        Ok(Value::str(&words.join(" ")))
    });
}

/// The words as one command line, quoted by the rules of the Microsoft C runtime, as
/// `subprocess.list2cmdline` does: a word with a space or tab (or an empty word) is put in
/// double quotes, a double quote is escaped with a backslash, and backslashes are doubled
/// where they come before a double quote (an added one too).
pub fn list2cmdline(words: &[&str]) -> String {
    let mut out = String::new();
    for word in words {
        if !out.is_empty() {
            out.push(' ');
        }
        let quoted = word.is_empty() || word.contains(' ') || word.contains('\t');
        if quoted {
            out.push('"');
        }
        let mut backslashes = 0;
        for c in word.chars() {
            match c {
                '\\' => backslashes += 1,
                '"' => {
                    out.push_str(&"\\".repeat(backslashes * 2));
                    backslashes = 0;
                    out.push_str("\\\"");
                }
                c => {
                    out.push_str(&"\\".repeat(backslashes));
                    backslashes = 0;
                    out.push(c);
                }
            }
        }
        out.push_str(&"\\".repeat(backslashes));
        if quoted {
            out.push_str(&"\\".repeat(backslashes));
            out.push('"');
        }
    }
    out
}

/// One word for a POSIX shell, as `shlex.quote`: as it is when it only holds letters, digits
/// and `@%+=:,./-_`, else in single quotes (a single quote inside written `'"'"'`); `''` for
/// the empty word.
pub fn quote(word: &str) -> String {
    if word.is_empty() {
        return "''".to_string();
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if word.chars().all(safe) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\"'\"'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list2cmdline_quotes_as_python() {
        // Outputs of Python 3.11's subprocess.list2cmdline.
        assert_eq!(
            list2cmdline(&["sh", "-c", "export PATH=$PATH:/opt/app/bin; app-migrate > /var/log/migrate.log"]),
            "sh -c \"export PATH=$PATH:/opt/app/bin; app-migrate > /var/log/migrate.log\""
        );
        assert_eq!(list2cmdline(&["sh", "-c", ""]), "sh -c \"\"");
        assert_eq!(list2cmdline(&["sh", "-c", "echo \"hi\""]), "sh -c \"echo \\\"hi\\\"\"");
        assert_eq!(list2cmdline(&["a\\b", "c d\\", "e\\\"f"]), "a\\b \"c d\\\\\" e\\\\\\\"f");
        assert_eq!(list2cmdline(&["x\\\\"]), "x\\\\");
    }

    #[test]
    fn quote_is_shlex_quote() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("/opt/app/bin/app"), "/opt/app/bin/app");
        assert_eq!(quote("/etc/app/app conf.ini"), "'/etc/app/app conf.ini'");
        assert_eq!(quote("it's"), "'it'\"'\"'s'");
        assert_eq!(quote("a$b"), "'a$b'");
        assert_eq!(quote("café"), "'café'");
    }
}
