//! `std::validate_type` and `std::is_base64_encoded`: the checks behind std's typedefs
//! (IP addresses and networks, URLs, e-mail addresses, UUIDs, dates), written natively with
//! the semantics of the pydantic types Inmanta names.

use cairn_compiler::compile::plugins::{Param, ParamType, PluginCtx, PluginFailure, PluginRegistry};
use cairn_compiler::compile::value::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub fn register(registry: &mut PluginRegistry) {
    registry.register(
        "std::validate_type",
        vec![
            Param::new("fq_type_name", ParamType::String),
            Param::new("value", ParamType::Any),
            Param::optional("validation_parameters", ParamType::Nullable(Box::new(ParamType::Dict)), Value::Null),
        ],
        validate_type,
    );
    registry.register("std::is_base64_encoded", vec![Param::new("s", ParamType::String)], is_base64_encoded);
}

fn text(value: &Value) -> Option<&str> {
    match value {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

fn validate_type(_: &mut PluginCtx<'_>, args: &[Value]) -> Result<Value, PluginFailure> {
    let type_name = text(&args[0]).unwrap_or_default();
    let Some(value) = text(&args[1]) else { return Ok(Value::Bool(false)) };
    let valid = match type_name {
        "pydantic.IPv4Address" | "ipaddress.IPv4Address" => value.parse::<Ipv4Addr>().is_ok(),
        "pydantic.IPv6Address" | "ipaddress.IPv6Address" => value.parse::<Ipv6Addr>().is_ok(),
        "pydantic.IPvAnyAddress" => value.parse::<IpAddr>().is_ok(),
        "pydantic.IPv4Interface" | "ipaddress.IPv4Interface" => interface(value, false).is_some_and(|ip| ip.is_ipv4()),
        "pydantic.IPv6Interface" | "ipaddress.IPv6Interface" => interface(value, false).is_some_and(|ip| ip.is_ipv6()),
        "pydantic.IPvAnyInterface" => interface(value, false).is_some(),
        "pydantic.IPv4Network" | "ipaddress.IPv4Network" => interface(value, true).is_some_and(|ip| ip.is_ipv4()),
        "pydantic.IPv6Network" | "ipaddress.IPv6Network" => interface(value, true).is_some_and(|ip| ip.is_ipv6()),
        "pydantic.IPvAnyNetwork" => interface(value, true).is_some(),
        "uuid.UUID" => uuid(value),
        "pydantic.EmailStr" => email(value),
        "pydantic.NameEmail" => match (value.find('<'), value.ends_with('>')) {
            (Some(open), true) => email(&value[open + 1..value.len() - 1]),
            _ => email(value),
        },
        "pydantic.AnyUrl" => url(value, &[]),
        "pydantic.AnyHttpUrl" | "pydantic.HttpUrl" => url(value, &["http", "https"]),
        "datetime.date" => date(value),
        "datetime.time" => time(value),
        "datetime.datetime" => match value.split_once(['T', ' ']) {
            Some((d, t)) => date(d) && time(t.trim_end_matches('Z')),
            None => date(value),
        },
        other => return Err(PluginFailure::Error(format!("unknown type `{other}`"))),
    };
    Ok(Value::Bool(valid))
}

/// Parses `addr/prefix`; for a network the host bits must be zero.
fn interface(value: &str, network: bool) -> Option<IpAddr> {
    let (address, prefix) = match value.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (value, None),
    };
    let ip: IpAddr = address.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix: u32 = match prefix {
        Some(p) => p.parse().ok().filter(|p| *p <= max)?,
        None => max,
    };
    if network {
        let bits: u128 = match ip {
            IpAddr::V4(v4) => u32::from(v4) as u128,
            IpAddr::V6(v6) => u128::from(v6),
        };
        let host_bits = max - prefix;
        if host_bits > 0 && bits & ((1u128 << host_bits) - 1) != 0 {
            return None;
        }
    }
    Some(ip)
}

fn uuid(value: &str) -> bool {
    let hex: String = value.trim_start_matches("urn:uuid:").trim_matches(['{', '}']).chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

fn email(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else { return false };
    !local.is_empty()
        && !local.contains(char::is_whitespace)
        && domain.contains('.')
        && domain.split('.').all(|part| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '-'))
}

fn url(value: &str, schemes: &[&str]) -> bool {
    let Some((scheme, rest)) = value.split_once("://") else { return false };
    let scheme_ok = !scheme.is_empty()
        && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    scheme_ok && !host.is_empty() && (schemes.is_empty() || schemes.contains(&scheme.to_ascii_lowercase().as_str()))
}

fn date(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
        return false;
    }
    match (parts[0].parse::<u32>(), parts[1].parse::<u32>(), parts[2].parse::<u32>()) {
        (Ok(year), Ok(month), Ok(day)) => {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            (1..=12).contains(&month) && day >= 1 && day <= days[(month - 1) as usize]
        }
        _ => false,
    }
}

fn time(value: &str) -> bool {
    let main = value.split(['+', '.']).next().unwrap_or_default();
    let parts: Vec<&str> = main.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return false;
    }
    let limits = [23, 59, 59];
    parts.iter().zip(limits).all(|(p, limit)| p.len() == 2 && p.parse::<u32>().is_ok_and(|n| n <= limit))
}

fn is_base64_encoded(_: &mut PluginCtx<'_>, args: &[Value]) -> Result<Value, PluginFailure> {
    let s = text(&args[0]).unwrap_or_default();
    let body = s.trim_end_matches('=');
    let padding = s.len() - body.len();
    let valid = s.len() % 4 == 0
        && padding <= 2
        && body.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/');
    Ok(Value::Bool(valid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_networks() {
        assert!(interface("10.0.0.0/8", true).is_some());
        assert!(interface("10.0.0.1/8", true).is_none());
        assert!(interface("10.0.0.1/8", false).is_some());
        assert!(interface("::1/128", true).is_some());
        assert!(interface("10.0.0.1/33", false).is_none());
    }

    #[test]
    fn dates_times_and_ids() {
        assert!(date("2024-02-29"));
        assert!(!date("2023-02-29"));
        assert!(time("23:59:59"));
        assert!(!time("24:00"));
        assert!(uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(!uuid("not-a-uuid"));
        assert!(email("a.b@example.com"));
        assert!(!email("nobody"));
        assert!(url("https://example.com/x", &["http", "https"]));
        assert!(!url("ftp://example.com", &["http", "https"]));
    }
}
