//! DNS names and record types as this module writes them: absolute (with the final dot),
//! lower case, checked (labels of 1 to 63 characters, at most 253 characters in all; letters,
//! digits, `-` and `_`, and a `*` label only first, for wildcards). Shared by the export
//! (a model with a bad name fails to export) and by the handlers (a document from anywhere is
//! checked before any request is made).

/// `name` made absolute and checked; `what` names it in the message (`zone name`, ...).
pub fn absolute(name: &str, what: &str) -> Result<String, String> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed == "." {
        return Err(format!("the {what} is empty"));
    }
    let mut absolute = trimmed.to_ascii_lowercase();
    if !absolute.ends_with('.') {
        absolute.push('.');
    }
    check(&absolute).map_err(|why| format!("the {what} `{name}` is not a valid DNS name: {why}"))?;
    Ok(absolute)
}

/// The absolute name of a record `name` of `zone` (itself absolute): `@` is the apex, a name
/// with a final dot is taken as it is, any other is relative to the zone. The result must be
/// the zone or inside it.
pub fn in_zone(name: &str, zone: &str) -> Result<String, String> {
    let trimmed = name.trim();
    let full = if trimmed == "@" || trimmed.is_empty() {
        zone.to_string()
    } else if trimmed.ends_with('.') {
        absolute(trimmed, "record name")?
    } else {
        absolute(&format!("{trimmed}.{zone}"), "record name")?
    };
    if !within(&full, zone) {
        return Err(format!("the record name `{name}` ({full}) is not in the zone {zone}"));
    }
    Ok(full)
}

/// Whether the absolute name `name` is `zone` or below it.
pub fn within(name: &str, zone: &str) -> bool {
    name == zone || name.strip_suffix(zone).is_some_and(|head| head.ends_with('.'))
}

/// A record type as PowerDNS names it: upper case letters and digits (`A`, `AAAA`, `TYPE65`).
pub fn record_type(kind: &str) -> Result<String, String> {
    let upper = kind.trim().to_ascii_uppercase();
    if upper.is_empty() || upper.len() > 16 || !upper.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("`{kind}` is not a DNS record type"));
    }
    Ok(upper)
}

fn check(absolute: &str) -> Result<(), String> {
    if absolute.len() > 254 {
        return Err("longer than 253 characters".into());
    }
    let body = absolute.strip_suffix('.').unwrap_or(absolute);
    for (index, label) in body.split('.').enumerate() {
        if label.is_empty() {
            return Err("an empty label".into());
        }
        if label.len() > 63 {
            return Err(format!("the label `{label}` is longer than 63 characters"));
        }
        if label == "*" {
            if index > 0 {
                return Err("`*` is only allowed as the first label".into());
            }
            continue;
        }
        if let Some(bad) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
            return Err(format!("the label `{label}` has the character `{bad}`"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(absolute("Example.org", "zone name").as_deref(), Ok("example.org."));
        assert_eq!(absolute("example.org.", "zone name").as_deref(), Ok("example.org."));
        assert!(absolute("exa mple.org", "zone name").is_err());
        assert!(absolute("a..b", "zone name").is_err());
        assert_eq!(in_zone("www", "example.org.").as_deref(), Ok("www.example.org."));
        assert_eq!(in_zone("@", "example.org.").as_deref(), Ok("example.org."));
        assert_eq!(in_zone("*.x", "example.org.").as_deref(), Ok("*.x.example.org."));
        assert_eq!(in_zone("www.example.org.", "example.org.").as_deref(), Ok("www.example.org."));
        assert!(in_zone("www.example.com.", "example.org.").is_err());
        assert!(in_zone("www.badexample.org.", "example.org.").is_err());
        assert!(in_zone("x.*", "example.org.").is_err());
        assert_eq!(record_type("aaaa").as_deref(), Ok("AAAA"));
        assert!(record_type("A A").is_err());
    }
}
