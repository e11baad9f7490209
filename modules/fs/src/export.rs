//! What the fs resources export beyond their attributes, as fs 1.1.2's resource classes and
//! dependency manager do: `permissions` (the model's `mode`), `hash` (the SHA-1 of the file's
//! body, which goes into the version's file store), `uri` and `values` of a JSON document, and
//! the edges between a directory and what is inside it ([`dir_before_file`]).

use cairn_compiler::compile::value::Value;
use cairn_compiler::export::{Attr, Dependencies, DependencyError, FieldCtx, FieldError, JsonValue, Obj};
use std::collections::BTreeMap;

/// `permissions`: the `mode` as an int, null when the mode is null.
pub fn permissions(ctx: &mut FieldCtx<'_, '_>) -> Result<JsonValue, FieldError> {
    match ctx.this().get("mode") {
        Attr::One(Value::Int(mode)) => Ok(JsonValue::Int(*mode)),
        Attr::One(Value::Unknown) => Err(FieldError::Unknown),
        attr if attr.is_null() => Ok(JsonValue::Null),
        Attr::One(other) => Err(FieldError::Failed(format!("`mode` is {other}, not an int"))),
        Attr::Many(_) => Err(FieldError::Failed("`mode` is a list, not an int".to_string())),
        _ => Ok(JsonValue::Null),
    }
}

/// `hash`: the SHA-1 of the file's body, which is added to the file store. The body is the
/// content (its UTF-8 bytes, or the bytes of the file `std::file`/`fs::file` referred to),
/// after the `prefix_content` blocks, sorted by `sorting_key` (or `value`), joined with
/// `content_separator`, and one more separator.
pub fn hash(ctx: &mut FieldCtx<'_, '_>) -> Result<JsonValue, FieldError> {
    let this = ctx.this();
    let content = this.get("content");
    if content.is_unknown() {
        return Err(FieldError::Unknown);
    }
    let text = content.as_str().ok_or_else(|| FieldError::Failed("`content` is not a string".to_string()))?;
    let reference = ctx.file_reference(text);
    let prefix: Vec<Obj<'_>> = this.related("prefix_content").collect();
    if this.related("suffix_content").next().is_some() {
        return Err(FieldError::Failed(
            "`suffix_content` cannot be exported (fs 1.1.2's exporter fails on it, reading the misspelt `content_seperator`): \
             put the blocks in `content` or in `prefix_content`"
                .to_string(),
        ));
    }
    let body: Vec<u8> = if prefix.is_empty() {
        match reference {
            Some(bytes) => bytes.to_vec(),
            None => text.as_bytes().to_vec(),
        }
    } else {
        if reference.is_some() {
            return Err(FieldError::Failed(
                "`prefix_content` cannot be combined with a file that `std::file` or `fs::file` refers to (fs 1.1.2 joins \
                 text with bytes and fails): use `std::source` for text"
                    .to_string(),
            ));
        }
        let separator = this.get("content_separator");
        if separator.is_unknown() {
            return Err(FieldError::Unknown);
        }
        let separator = separator.as_str().unwrap_or("\n");
        let mut blocks: Vec<(&str, &str)> = Vec::with_capacity(prefix.len());
        for block in &prefix {
            let (key, value) = (block.get("sorting_key"), block.get("value"));
            if key.is_unknown() || value.is_unknown() {
                return Err(FieldError::Unknown);
            }
            let value = value.as_str().unwrap_or_default();
            blocks.push((key.as_str().unwrap_or(value), value));
        }
        // Stable, as Python's `sorted`: blocks with equal keys keep the model's order.
        blocks.sort_by(|a, b| a.0.cmp(b.0));
        let mut body = String::new();
        for (i, (_, value)) in blocks.iter().enumerate() {
            if i > 0 {
                body.push_str(separator);
            }
            body.push_str(value);
        }
        body.push_str(separator);
        body.push_str(text);
        body.into_bytes()
    };
    let hash = sha1_hex(&body);
    ctx.add_file(hash.clone(), body);
    Ok(JsonValue::Str(hash))
}

/// Lower-case hex SHA-1 (the same as `cairn_wire::digest::sha1_hex`, which the agent side
/// checks bodies with; this one uses the CPU's SHA instructions where it has them).
fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::Digest;
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = sha1::Sha1::digest(bytes);
    let mut out = String::with_capacity(40);
    for byte in digest {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 0xf) as usize] as char);
    }
    out
}

/// `uri` of a JSON document: its path, with `:<resource_discriminator>` when that is not
/// empty (the id attribute, so that several resources can share a file).
pub fn uri(ctx: &mut FieldCtx<'_, '_>) -> Result<JsonValue, FieldError> {
    let this = ctx.this();
    let (path, discriminator) = (this.get("path"), this.get("resource_discriminator"));
    if path.is_unknown() || discriminator.is_unknown() {
        return Err(FieldError::Unknown);
    }
    let path = path.as_str().unwrap_or_default();
    Ok(JsonValue::Str(match discriminator.as_str() {
        Some(discriminator) if !discriminator.is_empty() => format!("{path}:{discriminator}"),
        _ => path.to_string(),
    }))
}

/// `values` of a JSON document: `{"path", "operation", "value"}` for each of its values, in
/// the model's order.
pub fn values(ctx: &mut FieldCtx<'_, '_>) -> Result<JsonValue, FieldError> {
    let mut out = Vec::new();
    for value in ctx.this().related("values") {
        let mut entry = Vec::with_capacity(3);
        for name in ["path", "operation", "value"] {
            let attr = value.get(name);
            if attr.is_unknown() {
                return Err(FieldError::Unknown);
            }
            if let Attr::Missing = attr {
                return Err(FieldError::Failed(format!(
                    "a `{}` of `values` has no `{name}`: use an entity that extends fs::JsonValue with a `value` (fs::JsonObject)",
                    value.entity()
                )));
            }
            entry.push((name.to_string(), value.json_attr(attr)));
        }
        out.push(JsonValue::Object(entry));
    }
    Ok(JsonValue::List(out))
}

/// A resource of this module that a directory may hold, by the paths it occupies.
enum Kind {
    /// A file, directory or JSON document: its `path`.
    Path,
    /// A link: both its `src` and its `dst`.
    Link,
}

/// The dependency manager of fs 1.1.2, per host (told apart by instance): every `fs::File`,
/// `fs::Directory`, `fs::JsonFile` path and `fs::Symlink` `src` and `dst`, normalised, that
/// lies under a directory D (D's normalised path and a `/`) requires D. When D is purged it is
/// the other way round: D requires the purged resources inside it, and a resource inside that
/// is not purged cannot be deployed, which refuses the version.
pub fn dir_before_file(deps: &mut Dependencies<'_, '_>) -> Result<(), DependencyError> {
    let host_of = |member: &cairn_compiler::export::Member<'_>| member.instance().relation("host").map(|host| host.id().0);
    // Per host instance, the directories as prefixes; then the paths of resources on those
    // hosts only (a host without a managed directory needs nothing).
    let mut directories: BTreeMap<u32, Vec<(String, usize)>> = BTreeMap::new();
    for member in deps.iter().filter(|member| member.resource_type() == "fs::Directory") {
        if let (Some(host), Some(path)) = (host_of(&member), member.str_field("path")) {
            let mut prefix = normpath(path);
            prefix.push('/');
            directories.entry(host).or_default().push((prefix, member.index));
        }
    }
    if directories.is_empty() {
        return Ok(());
    }
    let mut paths: BTreeMap<u32, Vec<(String, usize)>> = BTreeMap::new();
    for member in deps.iter() {
        let kind = match member.resource_type() {
            "fs::File" | "fs::Directory" | "fs::JsonFile" => Kind::Path,
            "fs::Symlink" => Kind::Link,
            _ => continue,
        };
        let Some(host) = host_of(&member).filter(|host| directories.contains_key(host)) else { continue };
        let fields: &[&str] = match kind {
            Kind::Path => &["path"],
            Kind::Link => &["src", "dst"],
        };
        for field in fields {
            if let Some(path) = member.str_field(field) {
                paths.entry(host).or_default().push((normpath(path), member.index));
            }
        }
    }
    for (host, directories) in &directories {
        let Some(paths) = paths.get(host) else { continue };
        for (path, resource) in paths {
            for (prefix, directory) in directories {
                if !path.starts_with(prefix.as_str()) {
                    continue;
                }
                let (dir, inside) = (deps.get(*directory), deps.get(*resource));
                match (dir.purged(), inside.purged()) {
                    (false, _) => deps.require(*resource, *directory),
                    (true, true) => deps.require(*directory, *resource),
                    (true, false) => {
                        return Err(DependencyError {
                            message: format!(
                                "Directory {} is purged but a resource is trying to deploy something in it: {}",
                                dir.id(),
                                inside.id()
                            ),
                            at: *resource,
                            related: vec![(*directory, "the purged directory".to_string())],
                        })
                    }
                }
            }
        }
    }
    Ok(())
}

/// Python's `os.path.normpath` on POSIX: repeated and trailing separators and `.` dropped,
/// `..` taking away the part before it (never above the root), two leading slashes kept (but
/// not three), `.` for an empty result.
pub fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let initial = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else if path.starts_with('/') {
        1
    } else {
        0
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if (initial == 0 && parts.is_empty()) || parts.last() == Some(&"..") => parts.push(part),
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    let mut out = "/".repeat(initial);
    out.push_str(&parts.join("/"));
    if out.is_empty() {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{normpath, sha1_hex};

    #[test]
    fn sha1_is_the_wire_sha1() {
        for body in [&b""[..], b"abc", b"x=1", &[0u8, 255, 128, 7][..], &vec![b'a'; 1000][..]] {
            assert_eq!(sha1_hex(body), cairn_wire::digest::sha1_hex(body));
        }
    }

    #[test]
    fn normpath_is_pythons() {
        for (path, normal) in [
            ("", "."),
            (".", "."),
            ("/", "/"),
            ("//", "//"),
            ("///", "/"),
            ("//a//b/", "//a/b"),
            ("///a", "/a"),
            ("/tmp/test/", "/tmp/test"),
            ("/tmp/./test//a", "/tmp/test/a"),
            ("/a/../..", "/"),
            ("/../a", "/a"),
            ("a/../..", ".."),
            ("../../a", "../../a"),
            ("a/b/../c", "a/c"),
            ("out", "out"),
        ] {
            assert_eq!(normpath(path), normal, "{path:?}");
        }
    }
}
