//! Jinja2's `format` filter and `%` on strings: Python's printf-style formatting
//! (`%s %r %d %i %f %e %g %x %o %c %%`, flags, widths, precisions, `%(name)s` keys).

use super::filters::*;
use super::values::{python_repr, python_str};
use minijinja::value::{Rest, Value as Jv};
use minijinja::Error;

/// Jinja2's `format` filter: `value % args` (or `% kwargs`), printf style.
pub(super) fn printf_filter(value: Jv, args: Rest<Jv>) -> Result<Jv, Error> {
    let (positional, keywords) = match args.split_last() {
        Some((last, rest)) if last.is_kwargs() => (rest.to_vec(), Some(last.clone())),
        _ => (args.0.clone(), None),
    };
    if keywords.is_some() && !positional.is_empty() {
        return Err(invalid("can't handle positional and keyword arguments at the same time"));
    }
    printf(&python_str(&value), &positional, keywords.as_ref()).map(Jv::from)
}

/// Python's `template % values`: `%s %r %d %i %u %f %F %e %E %g %G %x %X %o %c %%`, with
/// flags (`-+ #0`), width, precision and `%(name)s` keys.
pub fn printf(template: &str, values: &[Jv], keywords: Option<&Jv>) -> Result<String, Error> {
    let chars: Vec<char> = template.chars().collect();
    let mut out = String::new();
    let mut next = 0;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        let mut key = None;
        if chars.get(i) == Some(&'(') {
            let end = chars[i..].iter().position(|c| *c == ')').ok_or_else(|| invalid("incomplete format key"))?;
            key = Some(chars[i + 1..i + end].iter().collect::<String>());
            i += end + 1;
        }
        let mut flags = String::new();
        while let Some(c) = chars.get(i).filter(|c| "-+ #0".contains(**c)) {
            flags.push(*c);
            i += 1;
        }
        let mut width = String::new();
        while let Some(c) = chars.get(i).filter(|c| c.is_ascii_digit()) {
            width.push(*c);
            i += 1;
        }
        let mut precision = None;
        if chars.get(i) == Some(&'.') {
            i += 1;
            let mut digits = String::new();
            while let Some(c) = chars.get(i).filter(|c| c.is_ascii_digit()) {
                digits.push(*c);
                i += 1;
            }
            precision = Some(digits.parse::<usize>().unwrap_or(0));
        }
        let conversion = *chars.get(i).ok_or_else(|| invalid("incomplete format"))?;
        i += 1;
        if conversion == '%' {
            out.push('%');
            continue;
        }
        let value = match &key {
            Some(key) => keywords
                .ok_or_else(|| invalid("format requires a mapping"))?
                .get_item(&Jv::from(key.as_str()))
                .ok()
                .filter(|v| !v.is_undefined())
                .ok_or_else(|| invalid(format!("KeyError: '{key}'")))?,
            None => {
                let value = values.get(next).cloned().ok_or_else(|| invalid("not enough arguments for format string"))?;
                next += 1;
                value
            }
        };
        let width = width.parse::<usize>().unwrap_or(0);
        let left = flags.contains('-');
        let zero = flags.contains('0') && !left;
        let sign = if flags.contains('+') {
            "+"
        } else if flags.contains(' ') {
            " "
        } else {
            ""
        };
        let number = || f64::try_from(value.clone()).map_err(|_| invalid(format!("%{conversion} format: a real number is required, not {}", python_repr(&value))));
        let body = match conversion {
            's' => {
                let text = python_str(&value);
                match precision {
                    Some(p) => text.chars().take(p).collect(),
                    None => text,
                }
            }
            'r' | 'a' => python_repr(&value),
            'd' | 'i' | 'u' => {
                let n = number()?.trunc();
                signed(n < 0.0, sign, &format!("{}", n.abs() as i128))
            }
            'x' | 'X' | 'o' => {
                let n = number()?.trunc() as i128;
                let digits = match conversion {
                    'x' => format!("{:x}", n.unsigned_abs()),
                    'X' => format!("{:X}", n.unsigned_abs()),
                    _ => format!("{:o}", n.unsigned_abs()),
                };
                let prefix = if flags.contains('#') {
                    match conversion {
                        'x' => "0x",
                        'X' => "0X",
                        _ => "0o",
                    }
                } else {
                    ""
                };
                signed(n < 0, sign, &format!("{prefix}{digits}"))
            }
            'f' | 'F' => {
                let n = number()?;
                let p = precision.unwrap_or(6);
                signed(n.is_sign_negative() && n != 0.0, sign, &format!("{:.p$}", n.abs()))
            }
            'e' | 'E' => {
                let n = number()?;
                let text = exponent(n.abs(), precision.unwrap_or(6));
                let text = if conversion == 'E' { text.to_uppercase() } else { text };
                signed(n < 0.0, sign, &text)
            }
            'g' | 'G' => {
                let n = number()?;
                let p = precision.unwrap_or(6).max(1);
                let magnitude = n.abs();
                let exp = if magnitude == 0.0 { 0 } else { magnitude.log10().floor() as i32 };
                let text = if exp < -4 || exp >= p as i32 {
                    let t = exponent(magnitude, p - 1);
                    let (mantissa, e) = t.split_once('e').unwrap_or((&t, "+00"));
                    let mantissa = if mantissa.contains('.') && !flags.contains('#') { mantissa.trim_end_matches('0').trim_end_matches('.') } else { mantissa };
                    format!("{mantissa}e{e}")
                } else {
                    let decimals = usize::try_from(p as i32 - 1 - exp).unwrap_or(0);
                    let t = format!("{magnitude:.decimals$}");
                    if t.contains('.') && !flags.contains('#') {
                        t.trim_end_matches('0').trim_end_matches('.').to_string()
                    } else {
                        t
                    }
                };
                let text = if conversion == 'G' { text.to_uppercase() } else { text };
                signed(n < 0.0, sign, &text)
            }
            'c' => match value.as_i64() {
                Some(code) => char::from_u32(u32::try_from(code).unwrap_or(0xFFFD)).unwrap_or('\u{FFFD}').to_string(),
                None => python_str(&value).chars().take(1).collect(),
            },
            other => return Err(invalid(format!("unsupported format character '{other}'"))),
        };
        let length = body.chars().count();
        if length >= width {
            out.push_str(&body);
        } else if left {
            out.push_str(&body);
            out.extend(std::iter::repeat_n(' ', width - length));
        } else if zero && "diufFeEgGxXo".contains(conversion) {
            let (sign_part, digits) = match body.chars().next() {
                Some(c @ ('-' | '+' | ' ')) => (c.to_string(), body[1..].to_string()),
                _ => (String::new(), body.clone()),
            };
            out.push_str(&sign_part);
            out.extend(std::iter::repeat_n('0', width - length));
            out.push_str(&digits);
        } else {
            out.extend(std::iter::repeat_n(' ', width - length));
            out.push_str(&body);
        }
    }
    if keywords.is_none() && next < values.len() {
        return Err(invalid("not all arguments converted during string formatting"));
    }
    Ok(out)
}

pub(super) fn signed(negative: bool, sign: &str, digits: &str) -> String {
    if negative {
        format!("-{digits}")
    } else {
        format!("{sign}{digits}")
    }
}

/// `1.500000e+00`, as Python's `%e` writes it.
pub(super) fn exponent(magnitude: f64, precision: usize) -> String {
    let text = format!("{magnitude:.precision$e}");
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}
