//! `std::validate_type` and `std::is_base64_encoded`: the checks behind std's typedefs
//! (IP addresses and networks, URLs, e-mail addresses, UUIDs, dates), written natively with
//! the semantics of the pydantic types Inmanta names.

use cairn_compiler::pyregex::PyRegex;
use cairn_compiler::compile::plugins::{Param, ParamType, PluginCtx, PluginFailure, PluginRegistry};
use cairn_compiler::compile::value::{Dict, Value};
use std::net::{IpAddr, Ipv4Addr};

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
    // The typedefs' case first: a string checked against a type that takes no parameters.
    if let (Some(value), None) = (text(&args[1]), parameters) {
        if let Some(valid) = string_type(type_name, value) {
            return Ok(Value::Bool(valid));
        }
    }
    if let Some(valid) = constrained(type_name, &args[1], parameters).map_err(PluginFailure::Error)? {
        return Ok(Value::Bool(valid));
    }
    if !["pydantic.", "datetime.", "ipaddress.", "uuid."].iter().any(|prefix| type_name.starts_with(prefix)) {
        // Inmanta's validate_type raises a ValueError for other modules, and std's plugin
        // turns it into `false`.
        return Ok(Value::Bool(false));
    }
    if !KNOWN_TYPES.contains(&type_name) {
        return Err(unknown_type(type_name));
    }
    match (text(&args[1]), parameters) {
        (Some(value), None) => Ok(Value::Bool(string_type(type_name, value).unwrap_or(false))),
        // Inmanta's ValueError ("does not accept parameters"), which std turns into false.
        (_, Some(_)) => Ok(Value::Bool(false)),
        // These types validate strings (the values of typedefs over string).
        (None, None) => Ok(Value::Bool(false)),
    }
}

/// The verdict for a string of one of the [`KNOWN_TYPES`]; `None` for any other type name.
fn string_type(type_name: &str, value: &str) -> Option<bool> {
    let ip = |network: bool, v4: bool, v6: bool| interface(value, network).is_some_and(|ip| (v4 && ip.is_ipv4()) || (v6 && ip.is_ipv6()));
    Some(match type_name {
        "ipaddress.IPv4Address" => !value.contains('%') && value.parse::<Ipv4Addr>().is_ok(),
        "ipaddress.IPv6Address" => crate::network::parse_ip(value).is_some_and(|ip| ip.is_ipv6()),
        "pydantic.IPvAnyAddress" => crate::network::parse_ip(value).is_some(),
        "ipaddress.IPv4Interface" => ip(false, true, false),
        "ipaddress.IPv6Interface" => ip(false, false, true),
        "pydantic.IPvAnyInterface" => ip(false, true, true),
        "ipaddress.IPv4Network" => ip(true, true, false),
        "ipaddress.IPv6Network" => ip(true, false, true),
        "pydantic.IPvAnyNetwork" => ip(true, true, true),
        "uuid.UUID" => uuid(value),
        "pydantic.EmailStr" | "pydantic.NameEmail" => email(value),
        "pydantic.AnyUrl" => url(value, false, None),
        "pydantic.AnyHttpUrl" => url(value, true, None),
        "pydantic.HttpUrl" => url(value, true, Some(2083)),
        "datetime.date" => date(value),
        "datetime.time" => time(value),
        "datetime.datetime" => datetime(value),
        _ => return None,
    })
}

/// The types of `ipaddress`, `uuid`, `datetime` and `pydantic` this validate_type knows
/// besides the constrained ones (`constrained`). pydantic has no `IPv4Address` (only the
/// `IPvAny*` types): Inmanta fails on that name, and so does Cairn.
const KNOWN_TYPES: &[&str] = &[
    "ipaddress.IPv4Address",
    "ipaddress.IPv6Address",
    "pydantic.IPvAnyAddress",
    "ipaddress.IPv4Interface",
    "ipaddress.IPv6Interface",
    "pydantic.IPvAnyInterface",
    "ipaddress.IPv4Network",
    "ipaddress.IPv6Network",
    "pydantic.IPvAnyNetwork",
    "uuid.UUID",
    "pydantic.EmailStr",
    "pydantic.NameEmail",
    "pydantic.AnyUrl",
    "pydantic.AnyHttpUrl",
    "pydantic.HttpUrl",
    "datetime.date",
    "datetime.time",
    "datetime.datetime",
];

/// A name in a known module that is not a type there: Inmanta's AttributeError.
fn unknown_type(name: &str) -> PluginFailure {
    let (module, attribute) = name.split_once('.').unwrap_or((name, ""));
    PluginFailure::Error(format!("AttributeError: module '{module}' has no attribute '{attribute}' (validate_type knows {})", KNOWN_TYPES.join(", ")))
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
            // `regex` is matched as Python's `re.match` (Inmanta's compatibility layer),
            // `pattern` by pydantic itself (Rust's regex, searching).
            let pattern = match (given.get("regex"), given.get("pattern")) {
                (Some(Value::Str(p)), _) => Some(python_regex(p)?),
                (_, Some(Value::Str(p))) => Some(PyRegex::Linear(regex::Regex::new(p).map_err(|e| format!("invalid pattern: {e}"))?)),
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

/// A Python regular expression as `re.match` uses it, for Rust's regex: anchored at the
/// start, with Python's `$` (see `python_pattern`).
fn python_regex(pattern: &str) -> Result<PyRegex, String> {
    // A typedef checks every value with the same pattern: compile it once.
    thread_local! {
        static COMPILED: std::cell::RefCell<std::collections::HashMap<String, PyRegex>> = Default::default();
    }
    if let Some(found) = COMPILED.with(|cache| cache.borrow().get(pattern).cloned()) {
        return Ok(found);
    }
    let compiled = translate_python_regex(pattern)?;
    COMPILED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= 256 {
            cache.clear();
        }
        cache.insert(pattern.to_string(), compiled.clone());
    });
    Ok(compiled)
}

fn translate_python_regex(pattern: &str) -> Result<PyRegex, String> {
    let translated = cairn_compiler::compile::model::python_pattern(pattern);
    PyRegex::new(&format!("^(?:{translated})")).map_err(|e| format!("invalid regex: {e}"))
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

/// `uuid.UUID` as pydantic validates it: 32 hex digits, hyphenated 8-4-4-4-12, either
/// braced or with a lower-case `urn:uuid:` prefix (the hyphenated form only).
fn uuid(value: &str) -> bool {
    let hyphenated = |s: &str| {
        let groups: Vec<&str> = s.split('-').collect();
        groups.len() == 5
            && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
    };
    if let Some(inner) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
        return hyphenated(inner);
    }
    if let Some(inner) = value.strip_prefix("urn:uuid:") {
        return hyphenated(inner);
    }
    hyphenated(value) || (value.len() == 32 && value.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Domains email_validator refuses as special-use (RFC 6761 and friends).
const SPECIAL_USE_DOMAINS: &[&str] = &["arpa", "invalid", "local", "localhost", "onion", "test"];

/// pydantic's `validate_email`: an address, or a "pretty" one (`Fred Bloggs <fred@x.org>`,
/// `"Fred" <fred@x.org>`), spaces around it stripped; then email_validator's syntax check
/// without deliverability: a dot-atom local part (no quoted strings), a domain with a dot
/// whose labels are letters, digits and inner hyphens, not an IP, not special-use.
fn email(value: &str) -> bool {
    if value.chars().count() > 2048 || value.contains(['\r', '\n']) {
        return false;
    }
    let address = pretty_email(value).unwrap_or(value).trim();
    let Some((local, domain)) = address.rsplit_once('@') else { return false };
    let atext = |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || (!c.is_ascii() && !c.is_whitespace());
    let local_ok = !local.is_empty()
        && local.chars().count() <= 64
        && local.split('.').all(|atom| !atom.is_empty() && atom.chars().all(atext));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.chars().count() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels.last().is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
    let lower = domain.to_lowercase();
    let special = SPECIAL_USE_DOMAINS.iter().any(|s| lower == *s || lower.ends_with(&format!(".{s}")));
    local_ok && domain_ok && !special
}

/// The address inside a "pretty" email (`name <address>`), when the text is one.
fn pretty_email(value: &str) -> Option<&str> {
    let trimmed = value.trim();
    let inner_end = trimmed.strip_suffix('>')?;
    let open = inner_end.find('<')?;
    let (name, address) = (inner_end[..open].trim(), &inner_end[open + 1..]);
    if address.is_empty() {
        return None;
    }
    let name_char = |c: char| c.is_alphanumeric() || c == '_' || ".!#$%&'*+-/=?^`{|}~".contains(c);
    let name_ok = name.is_empty()
        || (name.len() >= 2 && name.starts_with('"') && name.ends_with('"'))
        || name.split_whitespace().all(|word| word.chars().all(name_char));
    name_ok.then_some(address)
}

/// Schemes that WHATWG URL parsing treats as special: they need a host (but `file`).
const SPECIAL_SCHEMES: &[&str] = &["http", "https", "ws", "wss", "ftp"];

/// pydantic's URL types (WHATWG parsing): `scheme:rest` with a scheme of a letter then
/// letters, digits, `+ - .`; a special scheme needs a host (slashes optional:
/// `http:example.com`), without spaces or forbidden characters, and a port up to 65535.
/// `http_only`: `AnyHttpUrl` / `HttpUrl` (at most `max_length` characters).
fn url(value: &str, http_only: bool, max_length: Option<usize>) -> bool {
    if max_length.is_some_and(|max| value.chars().count() > max) {
        return false;
    }
    let Some((scheme, rest)) = value.split_once(':') else { return false };
    let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok || value.chars().any(|c| c.is_control()) {
        return false;
    }
    let scheme = scheme.to_ascii_lowercase();
    if http_only && scheme != "http" && scheme != "https" {
        return false;
    }
    let special = SPECIAL_SCHEMES.contains(&scheme.as_str());
    let authority = match rest.strip_prefix("//") {
        Some(after) => Some(after),
        None if special => Some(rest.trim_start_matches('/')),
        None => None,
    };
    let Some(authority) = authority else { return true };
    let authority = authority.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let (host, port) = if let Some(inner) = host_port.strip_prefix('[') {
        match inner.split_once(']') {
            Some((v6, after)) => (v6, after.strip_prefix(':')),
            None => return false,
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    let forbidden = |c: char| c.is_whitespace() || "#%/:<>?@[\\]^|".contains(c);
    let host_ok = if host_port.starts_with('[') { host.parse::<std::net::Ipv6Addr>().is_ok() } else { !host.chars().any(forbidden) };
    let port_ok = port.is_none_or(|p| p.is_empty() || (p.chars().all(|c| c.is_ascii_digit()) && p.parse::<u32>().is_ok_and(|n| n <= 65535)));
    host_ok && port_ok && (!special || !host.is_empty())
}

/// `YYYY-MM-DD` at the start of `value`: whether it is a real date, and what follows it.
fn date_prefix(value: &str) -> Option<&str> {
    let (head, rest) = (value.get(..10)?, value.get(10..)?);
    let parts: Vec<&str> = head.split('-').collect();
    if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 || !head.chars().all(|c| c.is_ascii_digit() || c == '-') {
        return None;
    }
    let (year, month, day) = (parts[0].parse::<u32>().ok()?, parts[1].parse::<u32>().ok()?, parts[2].parse::<u32>().ok()?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    ((1..=12).contains(&month) && day >= 1 && day <= days[(month - 1) as usize]).then_some(rest)
}

/// A time of day as pydantic reads one: `HH:MM[:SS[.fraction]]` and an optional zone (`Z`,
/// `±HH:MM`, and with `compact_zone` also `±HHMM`). `Some(true)` when it is midnight.
fn time_of_day(value: &str, compact_zone: bool) -> Option<bool> {
    let zone_at = value.char_indices().skip(5).find(|(_, c)| matches!(c, 'Z' | '+' | '-')).map(|(i, _)| i);
    let (clock, zone) = match zone_at {
        Some(at) => (&value[..at], Some(&value[at..])),
        None => (value, None),
    };
    let zone_ok = match zone {
        None | Some("Z") => true,
        Some(zone) => {
            let digits = &zone[1..];
            let two = |s: &str, max: u32| s.len() == 2 && s.parse::<u32>().is_ok_and(|n| n <= max);
            match digits.split_once(':') {
                Some((h, m)) => two(h, 23) && two(m, 59),
                None => compact_zone && digits.len() == 4 && two(&digits[..2], 23) && two(&digits[2..], 59),
            }
        }
    };
    let (main, fraction) = match clock.split_once('.') {
        Some((main, fraction)) => (main, Some(fraction)),
        None => (clock, None),
    };
    let fraction_ok = fraction.is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()));
    let parts: Vec<&str> = main.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 || (fraction.is_some() && parts.len() != 3) {
        return None;
    }
    let limits = [23, 59, 59];
    let fields_ok = parts.iter().zip(limits).all(|(p, limit)| p.len() == 2 && p.parse::<u32>().is_ok_and(|n| n <= limit));
    if !(zone_ok && fraction_ok && fields_ok) {
        return None;
    }
    let midnight = parts.iter().all(|p| p.chars().all(|c| c == '0')) && fraction.is_none_or(|f| f.chars().all(|c| c == '0'));
    Some(midnight)
}

/// A number as pydantic reads a timestamp string: `[-]digits[.digits]`.
fn timestamp(value: &str) -> Option<f64> {
    let unsigned = value.strip_prefix('-').unwrap_or(value);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    (digits(whole) && digits(fraction)).then(|| value.parse::<f64>().ok()).flatten()
}

/// `datetime.date`: `YYYY-MM-DD`, also with a time part that is midnight, or a Unix
/// timestamp of a midnight (pydantic refuses a date with a time of day).
fn date(value: &str) -> bool {
    if let Some(seconds) = timestamp(value) {
        return seconds.fract() == 0.0 && seconds % 86400.0 == 0.0;
    }
    match date_prefix(value) {
        Some("") => true,
        Some(rest) => {
            let mut chars = rest.chars();
            matches!(chars.next(), Some('T' | 't' | ' ' | '_')) && time_of_day(chars.as_str(), true) == Some(true)
        }
        None => false,
    }
}

/// `datetime.time`: a time of day with an optional zone.
fn time(value: &str) -> bool {
    time_of_day(value, false).is_some()
}

/// `datetime.datetime`: a date, a date and a time (separated by `T`, `t`, `_` or a space),
/// or a Unix timestamp.
fn datetime(value: &str) -> bool {
    if timestamp(value).is_some() {
        return true;
    }
    match date_prefix(value) {
        Some("") => true,
        Some(rest) => {
            let mut chars = rest.chars();
            matches!(chars.next(), Some('T' | 't' | ' ' | '_')) && time_of_day(chars.as_str(), true).is_some()
        }
        None => false,
    }
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
        assert!(url("https://example.com/x", true, None));
        assert!(!url("ftp://example.com", true, None));
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

#[cfg(test)]
mod reference {
    use crate::testing::FakeHost;
    use cairn_compiler::compile::value::Value;
    use serde_json::Value as Json;

    /// Every verdict of the real validate_type (inmanta-core 14.0.0) in the reference table.
    #[test]
    fn verdicts_are_inmantas() {
        let table: Json = serde_json::from_str(include_str!("validate_type_reference.json")).expect("the reference table is JSON");
        let mut host = FakeHost::default();
        let mut wrong = Vec::new();
        for row in table["rows"].as_array().expect("rows") {
            let value = match &row["value"] {
                Json::String(s) => Value::str(s),
                Json::Number(n) if n.is_f64() => Value::Float(n.as_f64().unwrap_or_default()),
                Json::Number(n) => Value::Int(n.as_i64().unwrap_or_default()),
                other => panic!("unexpected value {other}"),
            };
            let params = match &row["params"] {
                Json::Object(map) => {
                    let dict: cairn_compiler::compile::value::Dict = map
                        .iter()
                        .map(|(k, v)| {
                            let v = match v {
                                Json::Bool(b) => Value::Bool(*b),
                                Json::String(s) => Value::str(s),
                                other => panic!("unexpected parameter {other}"),
                            };
                            (std::rc::Rc::from(k.as_str()), v)
                        })
                        .collect();
                    Value::Dict(std::rc::Rc::new(dict))
                }
                _ => Value::Null,
            };
            let name = row["type"].as_str().unwrap_or_default();
            let got = host.call("std::validate_type", &[Value::str(name), value.clone(), params], None);
            let expected = row["valid"].as_bool().unwrap_or_default();
            if got != Ok(Value::Bool(expected)) {
                wrong.push(format!("{} {value:?}: Inmanta says {expected}, Cairn {got:?}", row["typedef"]));
            }
        }
        assert!(wrong.is_empty(), "{} verdicts differ:\n{}", wrong.len(), wrong.join("\n"));
    }
}
