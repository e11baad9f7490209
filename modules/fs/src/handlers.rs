//! Handlers for `fs::File`, `fs::Directory`, `fs::Symlink` and `fs::JsonFile`. Modes are
//! written as in Inmanta: `644` means octal 0644. Owner and group are names; `null` leaves
//! them as they are. Relative paths are relative to the agent's base folder.
//!
//! Every attribute is checked before anything is touched ([`Wanted`]). A file is written with
//! its final mode and owner before it becomes visible (the `Io` writes aside and renames), and
//! a symbolic link found where a file or folder is managed is never followed. What the
//! handlers report keeps secrets out of logs: content changes are recorded as SHA-1 hashes,
//! and a readable diff is given only for text files everyone may read.

use cairn_agent::handler::default_diff;
use cairn_agent::{Context, Fields, FileAttrs, FileKind, FileStat, Handler, HandlerError, Io};
use cairn_wire::digest::sha1_hex;
use cairn_wire::{Change, ResourceDoc};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Managed files larger than this are refused (configuration files are far smaller).
const FILE_LIMIT: u64 = 64 * 1024 * 1024;
/// Diffs of larger text files are not shown or logged (hashes are).
const DIFF_LIMIT: usize = 64 * 1024;
/// The mode of a new file or folder when the model leaves it unset.
const DEFAULT_FILE_MODE: u32 = 0o644;
const DEFAULT_DIR_MODE: u32 = 0o755;

/// `0o644` -> `644`, the way models write modes.
pub fn mode_digits(mode: u32) -> i64 {
    format!("{mode:o}").parse().unwrap_or(0)
}

/// `644` -> `0o644`; refuses anything but up to four octal digits.
pub fn mode_bits(digits: i64) -> Result<u32, HandlerError> {
    let invalid = || HandlerError::new(format!("invalid mode {digits}: use up to four octal digits, e.g. 644 or 2755"));
    if !(0..=7777).contains(&digits) {
        return Err(invalid());
    }
    u32::from_str_radix(&digits.to_string(), 8).map_err(|_| invalid())
}

/// What a file or folder resource asks for, checked and resolved before anything is
/// touched.
struct Wanted {
    path: PathBuf,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
}

impl Wanted {
    fn of(io: &dyn Io, desired: &ResourceDoc, path_field: &str) -> Result<Wanted, HandlerError> {
        let text = desired.str_attr(path_field).ok_or_else(|| HandlerError::new(format!("`{path_field}` is not set")))?;
        if text.is_empty() {
            return Err(HandlerError::new(format!("`{path_field}` is empty")));
        }
        let mode = match desired.attr("permissions").or_else(|| desired.attr("mode")) {
            None | Some(Value::Null) => None,
            Some(value) => Some(mode_bits(value.as_i64().ok_or_else(|| HandlerError::new(format!("invalid mode {value}: not an integer")))?)?),
        };
        let uid = match desired.str_attr("owner") {
            Some(name) => Some(io.user_id(name)?.ok_or_else(|| HandlerError::new(format!("unknown user `{name}`")))?),
            None => None,
        };
        let gid = match desired.str_attr("group") {
            Some(name) => Some(io.group_id(name)?.ok_or_else(|| HandlerError::new(format!("unknown group `{name}`")))?),
            None => None,
        };
        Ok(Wanted { path: io.resolve(text), mode, uid, gid })
    }

    /// The mode and owner a written file gets: what the model asks, else what the replaced
    /// file had, else the defaults.
    fn attrs(&self, existing: Option<&FileStat>, default_mode: u32) -> FileAttrs {
        let existing = existing.filter(|s| s.kind == FileKind::File);
        FileAttrs {
            mode: self.mode.or(existing.map(|s| s.mode)).unwrap_or(default_mode),
            uid: self.uid.or(existing.map(|s| s.uid)),
            gid: self.gid.or(existing.map(|s| s.gid)),
        }
    }
}

/// Reads mode, owner and group of an existing path into `fields`.
fn read_ownership(io: &dyn Io, stat: &FileStat, fields: &mut Fields) -> Result<(), HandlerError> {
    fields.insert("mode".into(), Value::from(mode_digits(stat.mode)));
    let owner = io.user_name(stat.uid)?.map(Value::from).unwrap_or_else(|| Value::from(stat.uid.to_string()));
    let group = io.group_name(stat.gid)?.map(Value::from).unwrap_or_else(|| Value::from(stat.gid.to_string()));
    fields.insert("owner".into(), owner);
    fields.insert("group".into(), group);
    Ok(())
}

/// Applies mode, owner and group changes to an existing path.
fn apply_ownership(io: &dyn Io, wanted: &Wanted, changes: &[Change]) -> Result<(), HandlerError> {
    let changed = |field: &str| changes.iter().any(|c| c.field == field || c.field == "purged");
    let uid = wanted.uid.filter(|_| changed("owner"));
    let gid = wanted.gid.filter(|_| changed("group"));
    if uid.is_some() || gid.is_some() {
        io.chown(&wanted.path, uid, gid)?;
    }
    // After the chown, which clears setuid and setgid bits.
    if let Some(mode) = wanted.mode {
        if changed("mode") || uid.is_some() || gid.is_some() {
            io.set_mode(&wanted.path, mode)?;
        }
    }
    Ok(())
}

/// The fields a file handler reads: content (in memory only, never reported), its hash, and
/// mode and ownership. A link or another kind of file at the path has no content.
fn read_file_fields(io: &dyn Io, path: &Path) -> Result<Option<(Fields, FileStat)>, HandlerError> {
    let Some(stat) = io.stat(path)? else { return Ok(None) };
    let mut fields = Fields::new();
    match stat.kind {
        FileKind::Directory => return Err(HandlerError::new(format!("{} is a directory", path.display()))),
        FileKind::File => {
            let content = io.read_file(path, FILE_LIMIT)?.unwrap_or_default();
            fields.insert("hash".into(), Value::from(sha1_hex(&content)));
            fields.insert("content".into(), Value::from(String::from_utf8_lossy(&content).into_owned()));
            read_ownership(io, &stat, &mut fields)?;
        }
        // Replaced by the file on deploy (the link itself, never what it points to).
        FileKind::Symlink | FileKind::Other => {
            fields.insert("kind".into(), Value::from(if stat.kind == FileKind::Symlink { "symlink" } else { "other" }));
        }
    }
    Ok(Some((fields, stat)))
}

/// The changes of a file: content compared by hash (so the log holds no content), then mode
/// and ownership.
fn file_diff(desired: &ResourceDoc, hash: String, current: Option<&Fields>) -> Vec<Change> {
    let mut want = desired.clone();
    want.attributes.remove("content");
    want.attributes.insert("hash".into(), Value::from(hash));
    if let Some(mode) = desired.attr("permissions").cloned() {
        want.attributes.insert("mode".into(), mode);
    }
    let mut changes = default_diff(&["hash", "mode", "owner", "group"], &want, current);
    for change in &mut changes {
        if change.field == "hash" {
            change.field = "content".into();
        }
    }
    changes
}

/// The mode a file resource asks for, in the model's digits (`permissions`, or `mode` in
/// documents of older exports).
fn desired_mode(desired: &ResourceDoc) -> Option<i64> {
    desired.attr("permissions").or_else(|| desired.attr("mode")).and_then(Value::as_i64)
}

/// The hash of the content a file resource asks for.
fn desired_hash(desired: &ResourceDoc) -> String {
    match desired.str_attr("hash") {
        Some(hash) => hash.to_string(),
        None => sha1_hex(desired.str_attr("content").unwrap_or_default().as_bytes()),
    }
}

/// The content a file resource asks for: fetched from the file store by its `hash` (and
/// checked against it), or inline `content` in documents of older exports.
fn desired_content(cx: &Context<'_>, desired: &ResourceDoc) -> Result<Vec<u8>, HandlerError> {
    match desired.str_attr("hash") {
        Some(hash) => {
            let content = cx.files.file(hash)?;
            if sha1_hex(&content) != hash {
                return Err(HandlerError::new(format!("the file store's body for hash {hash} does not match its hash")));
            }
            Ok(content)
        }
        None => Ok(desired.str_attr("content").unwrap_or_default().as_bytes().to_vec()),
    }
}

/// Whether a file of this mode may be shown to anyone (world-readable).
fn public(mode: Option<i64>) -> bool {
    mode.and_then(|m| mode_bits(m).ok()).map(|bits| bits & 0o004 != 0).unwrap_or(true)
}

fn unified_diff(path: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new).unified_diff().context_radius(3).header(path, path).to_string()
}

/// What a file's changes look like to a person: a unified diff when both the old and the
/// new file are world-readable text of modest size, else the content hashes only.
fn describe_file(desired: &ResourceDoc, current: Option<&Fields>, changes: &[Change], new_content: &str) -> String {
    let path = desired.str_attr("path").unwrap_or_default();
    let desired_mode = desired_mode(desired);
    let current_mode = current.and_then(|c| c.get("mode")).and_then(Value::as_i64);
    let old = current.and_then(|c| c.get("content")).and_then(Value::as_str).unwrap_or_default();
    let showable = public(desired_mode.or(current_mode)) && public(current_mode) && old.len() <= DIFF_LIMIT && new_content.len() <= DIFF_LIMIT
        && !old.contains('\0')
        && !new_content.contains('\0');
    let mut lines = Vec::new();
    for change in changes {
        match change.field.as_str() {
            "content" if showable => lines.push(unified_diff(path, old, new_content)),
            "content" => lines.push(format!("content of {path}: sha1 {} -> {} (not shown: the file is not world-readable, binary or large)", change.current, change.desired)),
            "purged" if desired.purged() => lines.push(format!("remove {path}")),
            "purged" => lines.push(format!("create {path}")),
            field => lines.push(format!("{field}: {} -> {}", change.current, change.desired)),
        }
    }
    lines.join("\n")
}

fn write_content(io: &dyn Io, wanted: &Wanted, content: &[u8], changes: &[Change]) -> Result<(), HandlerError> {
    let existing = io.stat(&wanted.path)?;
    if changes.iter().any(|c| c.field == "content" || c.field == "purged") || existing.as_ref().is_some_and(|s| s.kind != FileKind::File) {
        let attrs = wanted.attrs(existing.as_ref(), DEFAULT_FILE_MODE);
        io.write_file(&wanted.path, content, &attrs).map_err(|e| HandlerError::new(format!("cannot write {e}")))?;
        return Ok(());
    }
    apply_ownership(io, wanted, changes)
}

pub struct FileHandler;

impl Handler for FileHandler {
    fn fields(&self) -> &[&str] {
        &["content", "mode", "owner", "group"]
    }

    fn check(&self, cx: &Context<'_>, desired: &ResourceDoc) -> Result<(), HandlerError> {
        Wanted::of(cx.io, desired, "path").map(|_| ())
    }

    fn read(&self, cx: &Context<'_>, desired: &ResourceDoc) -> Result<Option<Fields>, HandlerError> {
        let wanted = Wanted::of(cx.io, desired, "path")?;
        Ok(read_file_fields(cx.io, &wanted.path)?.map(|(fields, _)| fields))
    }

    fn diff(&self, desired: &ResourceDoc, current: Option<&Fields>) -> Vec<cairn_wire::Change> {
        file_diff(desired, desired_hash(desired), current)
    }

    fn apply(&self, cx: &Context<'_>, desired: &ResourceDoc, _current: Option<&Fields>, changes: &[Change]) -> Result<(), HandlerError> {
        let wanted = Wanted::of(cx.io, desired, "path")?;
        if desired.purged() {
            return cx.io.remove_file(&wanted.path).map_err(|e| HandlerError::new(format!("cannot remove {e}")));
        }
        write_content(cx.io, &wanted, &desired_content(cx, desired)?, changes)
    }

    fn describe(&self, cx: &Context<'_>, desired: &ResourceDoc, current: Option<&Fields>, changes: &[Change]) -> String {
        // A body the store cannot give is described by its hash alone.
        let content = desired_content(cx, desired).map(|c| String::from_utf8_lossy(&c).into_owned()).unwrap_or_else(|_| "\0".into());
        describe_file(desired, current, changes, &content)
    }
}

pub struct DirectoryHandler;

impl Handler for DirectoryHandler {
    fn fields(&self) -> &[&str] {
        &["mode", "owner", "group"]
    }

    fn check(&self, cx: &Context<'_>, desired: &ResourceDoc) -> Result<(), HandlerError> {
        Wanted::of(cx.io, desired, "path").map(|_| ())
    }

    fn read(&self, cx: &Context<'_>, desired: &ResourceDoc) -> Result<Option<Fields>, HandlerError> {
        let io = cx.io;
        let wanted = Wanted::of(io, desired, "path")?;
        let Some(stat) = io.stat(&wanted.path)? else { return Ok(None) };
        if stat.kind != FileKind::Directory {
            let what = if stat.kind == FileKind::Symlink { "a symbolic link" } else { "not a directory" };
            return Err(HandlerError::new(format!("{} exists and is {what}", wanted.path.display())));
        }
        let mut fields = Fields::new();
        read_ownership(io, &stat, &mut fields)?;
        Ok(Some(fields))
    }

    fn apply(&self, cx: &Context<'_>, desired: &ResourceDoc, _current: Option<&Fields>, changes: &[Change]) -> Result<(), HandlerError> {
        let io = cx.io;
        let wanted = Wanted::of(io, desired, "path")?;
        if desired.purged() {
            return io.remove_dir(&wanted.path).map_err(|e| HandlerError::new(format!("cannot remove {e}")));
        }
        if changes.iter().any(|c| c.field == "purged") {
            // Created with its final mode; owner and group follow.
            let mode = wanted.mode.unwrap_or(DEFAULT_DIR_MODE);
            io.create_dir(&wanted.path, if wanted.uid.is_some() || wanted.gid.is_some() { mode & 0o700 } else { mode })
                .map_err(|e| HandlerError::new(format!("cannot create {e}")))?;
            let owned = Wanted { mode: Some(mode), ..wanted };
            return apply_ownership(io, &owned, changes);
        }
        apply_ownership(io, &wanted, changes)
    }

    fn describe(&self, _cx: &Context<'_>, desired: &ResourceDoc, _current: Option<&Fields>, changes: &[Change]) -> String {
        let path = desired.str_attr("path").unwrap_or_default();
        changes
            .iter()
            .map(|change| match change.field.as_str() {
                "purged" if desired.purged() => format!("remove directory {path}"),
                "purged" => format!("create directory {path}"),
                field => format!("{field}: {} -> {}", change.current, change.desired),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub struct SymlinkHandler;

impl Handler for SymlinkHandler {
    fn fields(&self) -> &[&str] {
        &["src"]
    }

    fn check(&self, cx: &Context<'_>, desired: &ResourceDoc) -> Result<(), HandlerError> {
        if desired.str_attr("src").is_none_or(str::is_empty) {
            return Err(HandlerError::new("`src` is not set"));
        }
        Wanted::of(cx.io, &without_ownership(desired), "dst").map(|_| ())
    }

    fn read(&self, cx: &Context<'_>, desired: &ResourceDoc) -> Result<Option<Fields>, HandlerError> {
        let io = cx.io;
        let link = Wanted::of(io, &without_ownership(desired), "dst")?.path;
        let Some(stat) = io.stat(&link)? else { return Ok(None) };
        if stat.kind != FileKind::Symlink {
            return Err(HandlerError::new(format!("{} exists and is not a symbolic link", link.display())));
        }
        let mut fields = Fields::new();
        fields.insert("src".into(), Value::from(stat.target.unwrap_or_default()));
        Ok(Some(fields))
    }

    fn apply(&self, cx: &Context<'_>, desired: &ResourceDoc, current: Option<&Fields>, _changes: &[Change]) -> Result<(), HandlerError> {
        let io = cx.io;
        let link = Wanted::of(io, &without_ownership(desired), "dst")?.path;
        if current.is_some() {
            io.remove_file(&link).map_err(|e| HandlerError::new(format!("cannot remove {e}")))?;
        }
        if desired.purged() {
            return Ok(());
        }
        let target = desired.str_attr("src").unwrap_or_default();
        io.symlink(target, &link).map_err(|e| HandlerError::new(format!("cannot link to {target}: {e}")))
    }

    fn describe(&self, _cx: &Context<'_>, desired: &ResourceDoc, _current: Option<&Fields>, changes: &[Change]) -> String {
        let link = desired.str_attr("dst").unwrap_or_default();
        let target = desired.str_attr("src").unwrap_or_default();
        let purge = changes.iter().find(|c| c.field == "purged");
        match (purge, changes.iter().find(|c| c.field == "src")) {
            (Some(_), _) if desired.purged() => format!("remove link {link}"),
            (Some(_), _) => format!("create link {link} -> {target}"),
            (None, Some(change)) => format!("link {link} -> {} becomes -> {target}", change.current.as_str().unwrap_or_default()),
            (None, None) => String::new(),
        }
    }
}

/// A link has no mode or owner of its own to check.
fn without_ownership(desired: &ResourceDoc) -> ResourceDoc {
    let mut doc = desired.clone();
    for field in ["mode", "owner", "group"] {
        doc.attributes.remove(field);
    }
    doc
}

pub struct JsonFileHandler;

impl JsonFileHandler {
    fn rendered(desired: &ResourceDoc) -> String {
        let values = desired.attr("values").cloned().unwrap_or(Value::Null);
        let indent = desired.attr("indent").and_then(Value::as_i64).unwrap_or(2).clamp(0, 16) as usize;
        let mut out = Vec::new();
        let indent_text = " ".repeat(indent);
        let formatter = serde_json::ser::PrettyFormatter::with_indent(indent_text.as_bytes());
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        let _ = serde::Serialize::serialize(&values, &mut serializer);
        let mut text = String::from_utf8_lossy(&out).into_owned();
        text.push('\n');
        text
    }
}

impl Handler for JsonFileHandler {
    fn fields(&self) -> &[&str] {
        &["content", "mode", "owner", "group"]
    }

    fn check(&self, cx: &Context<'_>, desired: &ResourceDoc) -> Result<(), HandlerError> {
        // fs 1.1.2 exports `values` as operations (`{path, operation, value}`) to apply to the
        // document; writing them out as the document would destroy it.
        if desired.attr("values").is_some_and(Value::is_array) {
            return Err(HandlerError::new(
                "applying the `values` operations of an fs::JsonFile (replace, merge, remove at a dict path) is not supported by \
                 this handler yet: nothing was changed",
            ));
        }
        FileHandler.check(cx, desired)
    }

    fn read(&self, cx: &Context<'_>, desired: &ResourceDoc) -> Result<Option<Fields>, HandlerError> {
        FileHandler.read(cx, desired)
    }

    fn diff(&self, desired: &ResourceDoc, current: Option<&Fields>) -> Vec<Change> {
        file_diff(desired, sha1_hex(Self::rendered(desired).as_bytes()), current)
    }

    fn apply(&self, cx: &Context<'_>, desired: &ResourceDoc, _current: Option<&Fields>, changes: &[Change]) -> Result<(), HandlerError> {
        let wanted = Wanted::of(cx.io, desired, "path")?;
        if desired.purged() {
            return cx.io.remove_file(&wanted.path).map_err(|e| HandlerError::new(format!("cannot remove {e}")));
        }
        write_content(cx.io, &wanted, Self::rendered(desired).as_bytes(), changes)
    }

    fn describe(&self, _cx: &Context<'_>, desired: &ResourceDoc, current: Option<&Fields>, changes: &[Change]) -> String {
        describe_file(desired, current, changes, &Self::rendered(desired))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_convert_both_ways_and_refuse_what_is_not_a_mode() {
        assert_eq!(mode_digits(0o644), 644);
        assert_eq!(mode_digits(0o4755), 4755);
        assert_eq!(mode_bits(755).expect("octal"), 0o755);
        assert!(mode_bits(789).is_err());
        assert!(mode_bits(77777777).is_err(), "more than four digits is not a mode");
        assert!(mode_bits(-1).is_err());
    }
}
