//! f-string format specs with Python's semantics: `[[fill]align][sign][0][width][,][.precision][type]`,
//! nested fields (`{x:{width}.{precision}f}`), and the general and scientific float forms
//! Python's `format()` writes.

use super::*;

/// Applies a Python format spec (`[[fill]align][sign][0][width][,][.precision][type]`).
pub(super) fn format_spec(value: &Value, spec: &str, plain: &str, repr: Option<String>) -> Result<String, Operation> {
    let base = repr.unwrap_or_else(|| plain.to_string());
    if spec.is_empty() {
        return Ok(base);
    }
    // A float with no fraction is formatted as an int, as it renders (Inmanta: `{v:d}` of
    // 100.0 is `100`, and `{v:.3}` is an error).
    let whole;
    let value = match value {
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            whole = Value::Int(*f as i64);
            &whole
        }
        _ => value,
    };
    let chars: Vec<char> = spec.chars().collect();
    let mut i = 0;
    let mut fill = ' ';
    let mut align = None;
    if chars.len() >= 2 && matches!(chars[1], '<' | '>' | '^' | '=') {
        fill = chars[0];
        align = Some(chars[1]);
        i = 2;
    } else if !chars.is_empty() && matches!(chars[0], '<' | '>' | '^' | '=') {
        align = Some(chars[0]);
        i = 1;
    }
    let mut sign = None;
    if i < chars.len() && matches!(chars[i], '+' | '-' | ' ') {
        sign = Some(chars[i]);
        i += 1;
    }
    if i < chars.len() && chars[i] == '0' {
        fill = '0';
        if align.is_none() {
            align = Some('=');
        }
        i += 1;
    }
    let mut width = 0usize;
    while i < chars.len() && chars[i].is_ascii_digit() {
        width = width * 10 + chars[i].to_digit(10).unwrap_or(0) as usize;
        i += 1;
    }
    let mut grouping = false;
    if i < chars.len() && (chars[i] == ',' || chars[i] == '_') {
        grouping = true;
        i += 1;
    }
    let mut precision = None;
    if i < chars.len() && chars[i] == '.' {
        i += 1;
        let mut p = 0usize;
        while i < chars.len() && chars[i].is_ascii_digit() {
            p = p * 10 + chars[i].to_digit(10).unwrap_or(0) as usize;
            i += 1;
        }
        precision = Some(p);
    }
    let kind = chars.get(i).copied();
    if i + 1 < chars.len() {
        return Err(Operation::FormatSpec(spec.to_string()));
    }
    let mut body = match (kind, value) {
        (Some('d'), Value::Int(n)) => n.abs().to_string(),
        (Some('x'), Value::Int(n)) => format!("{:x}", n.abs()),
        (Some('X'), Value::Int(n)) => format!("{:X}", n.abs()),
        (Some('o'), Value::Int(n)) => format!("{:o}", n.abs()),
        (Some('b'), Value::Int(n)) => format!("{:b}", n.abs()),
        (Some('f' | 'F'), v) if v.as_f64().is_some() => format!("{:.*}", precision.unwrap_or(6), v.as_f64().unwrap_or(0.0).abs()),
        (Some(e @ ('e' | 'E')), v) if v.as_f64().is_some() => {
            let text = scientific(v.as_f64().unwrap_or(0.0).abs(), precision.unwrap_or(6), false);
            if e == 'E' { text.to_uppercase() } else { text }
        }
        (Some(g @ ('g' | 'G')), v) if v.as_f64().is_some() => {
            let text = general(v.as_f64().unwrap_or(0.0).abs(), precision.unwrap_or(6), false);
            if g == 'G' { text.to_uppercase() } else { text }
        }
        (None, Value::Int(_)) if precision.is_some() => return Err(Operation::FormatSpec(spec.to_string())),
        (Some('%'), v) if v.as_f64().is_some() => format!("{:.*}%", precision.unwrap_or(6), v.as_f64().unwrap_or(0.0).abs() * 100.0),
        (None, Value::Float(f)) if precision.is_some() => general(f.abs(), precision.unwrap_or(6), true),
        (None, Value::Float(f)) => format_float(f.abs()),
        (None, Value::Int(n)) => n.abs().to_string(),
        (None | Some('s'), _) => match precision {
            Some(p) => base.chars().take(p).collect(),
            None => base.clone(),
        },
        (Some(code), v) => return Err(Operation::FormatCode { code, type_name: v.type_name() }),
    };
    let numeric = matches!(value, Value::Int(_) | Value::Float(_)) && !matches!(kind, Some('s'));
    if grouping && numeric {
        let (int_part, rest) = match body.find('.') {
            Some(dot) => (body[..dot].to_string(), body[dot..].to_string()),
            None => (body.clone(), String::new()),
        };
        let mut grouped = String::new();
        for (n, c) in int_part.chars().enumerate() {
            if n > 0 && (int_part.len() - n) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        body = grouped + &rest;
    }
    let negative = value.as_f64().is_some_and(|f| f < 0.0) && numeric;
    let sign_text = match (negative, sign) {
        (true, _) => "-",
        (false, Some('+')) if numeric => "+",
        (false, Some(' ')) if numeric => " ",
        _ => "",
    };
    let content_len = sign_text.chars().count() + body.chars().count();
    if content_len >= width {
        return Ok(format!("{sign_text}{body}"));
    }
    let pad = width - content_len;
    let padding: String = std::iter::repeat_n(fill, pad).collect();
    let align = align.unwrap_or(if numeric { '>' } else { '<' });
    Ok(match align {
        '<' => format!("{sign_text}{body}{padding}"),
        '^' => {
            let left: String = std::iter::repeat_n(fill, pad / 2).collect();
            let right: String = std::iter::repeat_n(fill, pad - pad / 2).collect();
            format!("{left}{sign_text}{body}{right}")
        }
        '=' => format!("{sign_text}{padding}{body}"),
        _ => format!("{padding}{sign_text}{body}"),
    })
}

/// Python's `e` format of a non-negative finite number: `d.ddde+XX`, `precision` digits after
/// the point, with the trailing zeros (and point) dropped when `strip`.
fn scientific(f: f64, precision: usize, strip: bool) -> String {
    if !f.is_finite() {
        return format_float(f);
    }
    let text = format!("{f:.precision$e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mantissa = if strip && mantissa.contains('.') { mantissa.trim_end_matches('0').trim_end_matches('.') } else { mantissa };
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

/// Python's general format of a non-negative number with `precision` significant digits: `g`,
/// or (`no_type`, a spec without a type letter) the same but switching to scientific
/// notation from exponent `precision - 1` on and keeping one digit after the point
/// (`format(3.14159, ".2")` is `3.1`, `format(100.0, ".3")` is `1e+02`).
fn general(f: f64, precision: usize, no_type: bool) -> String {
    if !f.is_finite() {
        return format_float(f);
    }
    let p = precision.max(1);
    // The exponent after rounding to `p` significant digits.
    let rounded = format!("{f:.prec$e}", prec = p - 1);
    let exponent: i64 = rounded.split_once('e').and_then(|(_, e)| e.parse().ok()).unwrap_or(0);
    let limit = if no_type { p as i64 - 1 } else { p as i64 };
    if exponent < -4 || exponent >= limit {
        return scientific(f, p - 1, true);
    }
    let decimals = (p as i64 - 1 - exponent).max(0) as usize;
    let fixed = format!("{f:.decimals$}");
    let fixed = if fixed.contains('.') { fixed.trim_end_matches('0').trim_end_matches('.').to_string() } else { fixed };
    if no_type && !fixed.contains('.') {
        format!("{fixed}.0")
    } else {
        fixed
    }
}


/// A format spec with its nested fields (`{...}`, in order) replaced by `texts`.
pub(super) fn fill_nested(spec: &str, texts: &[String]) -> String {
    let mut out = String::with_capacity(spec.len());
    let mut rest = spec;
    let mut texts = texts.iter();
    while let Some(open) = rest.find('{') {
        let Some(end) = rest[open..].find('}').map(|n| open + n) else { break };
        out.push_str(&rest[..open]);
        out.push_str(texts.next().map(String::as_str).unwrap_or_default());
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}
