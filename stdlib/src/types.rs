//! `std::validate_type` and `std::is_base64_encoded`: the checks behind std's typedefs
//! (IP addresses and networks, URLs, e-mail addresses, UUIDs, dates), written natively with
//! the semantics of the pydantic types Inmanta names.

use cairn_compiler::compile::plugins::{Param, ParamType, PluginCtx, PluginFailure, PluginRegistry};
use cairn_compiler::compile::value::{Dict, Value};
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
    let parameters = match &args[2] {
        Value::Dict(dict) => Some(dict.as_ref()),
        _ => None,
    };
    if let Some(valid) = constrained(type_name, &args[1], parameters).map_err(PluginFailure::Error)? {
        return Ok(Value::Bool(valid));
    }
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

/// The number a value reads as in pydantic's lax mode (ints, floats, booleans, numeric
/// strings), and whether it is integral.
fn lax_number(value: &Value) -> Option<f64> {
    match value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Str(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn lax_int(value: &Value) -> Option<f64> {
    match value {
        Value::Str(s) => s.trim().parse::<i64>().ok().map(|i| i as f64),
        Value::Float(f) if f.fract() != 0.0 || !f.is_finite() => None,
        other => lax_number(other),
    }
}

/// The numeric and string types of pydantic (`conint`, `confloat`, `condecimal`, `constr`,
/// `PositiveInt`, `StrictStr`, ...); `None` for types handled elsewhere.
fn constrained(type_name: &str, value: &Value, parameters: Option<&Dict>) -> Result<Option<bool>, String> {
    let empty = Dict::default();
    let given = parameters.unwrap_or(&empty);
    let bound = |name: &str| -> Result<Option<f64>, String> {
        match given.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => lax_number(v).map(Some).ok_or_else(|| format!("validation parameter `{name}` should be a number")),
        }
    };
    let check_known = |known: &[&str]| -> Result<(), String> {
        match given.keys().find(|k| !known.contains(&k.as_ref())) {
            Some(key) => Err(format!("{type_name} has no validation parameter `{key}`")),
            None => Ok(()),
        }
    };
    let numeric = |number: Option<f64>| -> Result<bool, String> {
        let Some(n) = number else { return Ok(false) };
        let ok = bound("gt")?.is_none_or(|b| n > b)
            && bound("ge")?.is_none_or(|b| n >= b)
            && bound("lt")?.is_none_or(|b| n < b)
            && bound("le")?.is_none_or(|b| n <= b)
            && bound("multiple_of")?.is_none_or(|m| m != 0.0 && ((n / m) - (n / m).round()).abs() < 1e-9);
        Ok(ok)
    };
    let sign = |number: Option<f64>, test: fn(f64) -> bool| number.is_some_and(test);
    let valid = match type_name {
        "pydantic.conint" => {
            check_known(&["gt", "ge", "lt", "le", "multiple_of", "strict"])?;
            numeric(lax_int(value))?
        }
        "pydantic.confloat" => {
            check_known(&["gt", "ge", "lt", "le", "multiple_of", "strict", "allow_inf_nan"])?;
            numeric(lax_number(value))?
        }
        "pydantic.condecimal" => {
            check_known(&["gt", "ge", "lt", "le", "multiple_of", "max_digits", "decimal_places"])?;
            let digits_ok = decimal_digits(value).is_some_and(|(whole, fraction)| {
                let max_digits = given.get("max_digits").and_then(Value::as_f64);
                let places = given.get("decimal_places").and_then(Value::as_f64);
                max_digits.is_none_or(|m| (whole + fraction) as f64 <= m) && places.is_none_or(|p| fraction as f64 <= p)
            });
            digits_ok && numeric(lax_number(value))?
        }
        "pydantic.constr" => {
            check_known(&["min_length", "max_length", "curtail_length", "regex", "pattern", "strip_whitespace", "to_lower", "to_upper", "strict"])?;
            let Value::Str(s) = value else { return Ok(Some(false)) };
            let length = s.chars().count() as f64;
            let limit = |name: &str| given.get(name).and_then(Value::as_f64);
            let pattern = match given.get("regex").or_else(|| given.get("pattern")) {
                Some(Value::Str(p)) => Some(regex::Regex::new(&format!("^(?:{p})")).map_err(|e| format!("invalid regex: {e}"))?),
                _ => None,
            };
            let checked: String = match limit("curtail_length") {
                Some(n) => s.chars().take(n.max(0.0) as usize).collect(),
                None => s.to_string(),
            };
            limit("min_length").is_none_or(|m| length >= m)
                && limit("max_length").is_none_or(|m| length <= m)
                && pattern.is_none_or(|re| re.is_match(&checked))
        }
        "pydantic.StrictInt" => matches!(value, Value::Int(_)),
        "pydantic.StrictFloat" => matches!(value, Value::Float(_)),
        "pydantic.StrictStr" => matches!(value, Value::Str(_)),
        "pydantic.StrictBool" => matches!(value, Value::Bool(_)),
        "pydantic.PositiveInt" => sign(lax_int(value), |n| n > 0.0),
        "pydantic.NegativeInt" => sign(lax_int(value), |n| n < 0.0),
        "pydantic.NonNegativeInt" => sign(lax_int(value), |n| n >= 0.0),
        "pydantic.NonPositiveInt" => sign(lax_int(value), |n| n <= 0.0),
        "pydantic.PositiveFloat" => sign(lax_number(value), |n| n > 0.0),
        "pydantic.NegativeFloat" => sign(lax_number(value), |n| n < 0.0),
        "pydantic.NonNegativeFloat" => sign(lax_number(value), |n| n >= 0.0),
        "pydantic.NonPositiveFloat" => sign(lax_number(value), |n| n <= 0.0),
        _ => return Ok(None),
    };
    Ok(Some(valid))
}

/// Digits before and after the point of a number as Python's `Decimal(str(value))` has them.
fn decimal_digits(value: &Value) -> Option<(usize, usize)> {
    let text = match value {
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_finite() => crate::format::float_repr(*f),
        Value::Str(s) => s.trim().to_string(),
        _ => return None,
    };
    text.parse::<f64>().ok()?;
    if text.contains(['e', 'E']) {
        return None;
    }
    let unsigned = text.trim_start_matches(['-', '+']);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    Some((whole.len(), fraction.len()))
}

/// Parses an interface (`addr[/prefix]`, IPv4 also `addr/netmask`) or, with `network`, a
/// network whose host bits are zero; the address when valid.
fn interface(value: &str, network: bool) -> Option<IpAddr> {
    let parsed = if network { crate::network::parse_network(value) } else { crate::network::parse_interface(value) };
    parsed.ok().map(|i| i.address)
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
    let valid = s.len() & 3 == 0
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
        assert!(interface("10.0.0.1/255.255.255.0", false).is_some());
        assert!(interface("10.0.0.0/255.255.255.0", true).is_some());
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

    fn params(pairs: &[(&str, Value)]) -> Dict {
        pairs.iter().map(|(k, v)| (std::rc::Rc::from(*k), v.clone())).collect()
    }

    #[test]
    fn constrained_types() {
        let vlan = params(&[("ge", Value::Int(0)), ("le", Value::Int(4095))]);
        assert_eq!(constrained("pydantic.conint", &Value::Int(10), Some(&vlan)), Ok(Some(true)));
        assert_eq!(constrained("pydantic.conint", &Value::Int(4096), Some(&vlan)), Ok(Some(false)));
        assert_eq!(constrained("pydantic.conint", &Value::Float(1.5), Some(&vlan)), Ok(Some(false)));
        assert_eq!(constrained("pydantic.conint", &Value::str("12"), Some(&vlan)), Ok(Some(true)));
        assert!(constrained("pydantic.conint", &Value::Int(1), Some(&params(&[("bogus", Value::Int(1))]))).is_err());
        let even = params(&[("multiple_of", Value::Int(2))]);
        assert_eq!(constrained("pydantic.conint", &Value::Int(4), Some(&even)), Ok(Some(true)));
        assert_eq!(constrained("pydantic.conint", &Value::Int(5), Some(&even)), Ok(Some(false)));
        let fraction = params(&[("gt", Value::Float(0.0)), ("lt", Value::Float(1.0))]);
        assert_eq!(constrained("pydantic.confloat", &Value::Float(0.5), Some(&fraction)), Ok(Some(true)));
        assert_eq!(constrained("pydantic.confloat", &Value::Int(1), Some(&fraction)), Ok(Some(false)));
        let name = params(&[("min_length", Value::Int(2)), ("max_length", Value::Int(4)), ("regex", Value::str("[a-z]+"))]);
        assert_eq!(constrained("pydantic.constr", &Value::str("abc"), Some(&name)), Ok(Some(true)));
        assert_eq!(constrained("pydantic.constr", &Value::str("a"), Some(&name)), Ok(Some(false)));
        assert_eq!(constrained("pydantic.constr", &Value::str("1ab"), Some(&name)), Ok(Some(false)));
        assert_eq!(constrained("pydantic.constr", &Value::Int(1), Some(&name)), Ok(Some(false)));
        let money = params(&[("max_digits", Value::Int(5)), ("decimal_places", Value::Int(2))]);
        assert_eq!(constrained("pydantic.condecimal", &Value::Float(123.45), Some(&money)), Ok(Some(true)));
        assert_eq!(constrained("pydantic.condecimal", &Value::Float(1.234), Some(&money)), Ok(Some(false)));
        assert_eq!(constrained("pydantic.condecimal", &Value::Int(123456), Some(&money)), Ok(Some(false)));
        assert_eq!(constrained("pydantic.PositiveInt", &Value::Int(0), None), Ok(Some(false)));
        assert_eq!(constrained("pydantic.StrictStr", &Value::str(""), None), Ok(Some(true)));
        assert_eq!(constrained("pydantic.IPv4Address", &Value::str(""), None), Ok(None));
    }
}
