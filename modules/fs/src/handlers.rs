//! Handlers for `fs::File`, `fs::Directory`, `fs::Symlink` and `fs::JsonFile`. Modes are
//! written as in Inmanta: `644` means octal 0644. Owner and group are names; `null` leaves
//! them as they are. Relative paths are relative to the agent's base folder.

use cairn_agent::handler::default_diff;
use cairn_agent::{Fields, FileKind, Handler, HandlerError, Io};
use cairn_wire::{Change, ResourceDoc};
use serde_json::Value;
use std::path::Path;

fn path_of(io: &dyn Io, desired: &ResourceDoc, field: &str) -> Result<std::path::PathBuf, HandlerError> {
    let text = desired.str_attr(field).ok_or_else(|| HandlerError::new(format!("`{field}` is not set")))?;
    Ok(io.resolve(text))
}

/// `0o644` -> `644`, the way models write modes.
pub fn mode_digits(mode: u32) -> i64 {
    format!("{mode:o}").parse().unwrap_or(0)
}

/// `644` -> `0o644`.
pub fn mode_bits(digits: i64) -> Result<u32, HandlerError> {
    u32::from_str_radix(&digits.to_string(), 8).map_err(|_| HandlerError::new(format!("invalid mode {digits}: use octal digits, e.g. 644")))
}

/// Reads mode, owner and group of an existing path into `fields`.
fn read_ownership(io: &dyn Io, stat: &cairn_agent::FileStat, fields: &mut Fields) -> Result<(), HandlerError> {
    fields.insert("mode".into(), Value::from(mode_digits(stat.mode)));
    let owner = io.user_name(stat.uid)?.map(Value::from).unwrap_or_else(|| Value::from(stat.uid.to_string()));
    let group = io.group_name(stat.gid)?.map(Value::from).unwrap_or_else(|| Value::from(stat.gid.to_string()));
    fields.insert("owner".into(), owner);
    fields.insert("group".into(), group);
    Ok(())
}

/// Applies mode, owner and group changes.
fn apply_ownership(io: &dyn Io, path: &Path, desired: &ResourceDoc, changes: &[Change]) -> Result<(), HandlerError> {
    let changed = |field: &str| changes.iter().any(|c| c.field == field || c.field == "purged");
    if changed("mode") {
        if let Some(mode) = desired.attr("mode").and_then(Value::as_i64) {
            io.set_mode(path, mode_bits(mode)?)?;
        }
    }
    let uid = match desired.str_attr("owner") {
        Some(name) if changed("owner") => Some(io.user_id(name)?.ok_or_else(|| HandlerError::new(format!("unknown user `{name}`")))?),
        _ => None,
    };
    let gid = match desired.str_attr("group") {
        Some(name) if changed("group") => Some(io.group_id(name)?.ok_or_else(|| HandlerError::new(format!("unknown group `{name}`")))?),
        _ => None,
    };
    if uid.is_some() || gid.is_some() {
        io.chown(path, uid, gid)?;
    }
    Ok(())
}

fn unified_diff(path: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new).unified_diff().context_radius(3).header(path, path).to_string()
}

fn content_preview(desired: &ResourceDoc, current: Option<&Fields>, changes: &[Change], new_content: &str) -> String {
    let path = desired.str_attr("path").unwrap_or_default();
    let mut lines = Vec::new();
    for change in changes {
        match change.field.as_str() {
            "content" => {
                let old = current.and_then(|c| c.get("content")).and_then(Value::as_str).unwrap_or_default();
                lines.push(unified_diff(path, old, new_content));
            }
            "purged" if desired.purged() => lines.push(format!("remove {path}")),
            "purged" => lines.push(format!("create {path}")),
            field => lines.push(format!("{field}: {} -> {}", change.current, change.desired)),
        }
    }
    lines.join("\n")
}

pub struct FileHandler;

impl Handler for FileHandler {
    fn fields(&self) -> &[&str] {
        &["content", "mode", "owner", "group"]
    }

    fn read(&self, io: &dyn Io, desired: &ResourceDoc) -> Result<Option<Fields>, HandlerError> {
        let path = path_of(io, desired, "path")?;
        let Some(stat) = io.stat(&path)? else { return Ok(None) };
        if stat.kind == FileKind::Directory {
            return Err(HandlerError::new(format!("{} is a directory", path.display())));
        }
        let content = io.read_file(&path)?.unwrap_or_default();
        let mut fields = Fields::new();
        fields.insert("content".into(), Value::from(String::from_utf8_lossy(&content).into_owned()));
        read_ownership(io, &stat, &mut fields)?;
        Ok(Some(fields))
    }

    fn apply(&self, io: &dyn Io, desired: &ResourceDoc, _current: Option<&Fields>, changes: &[Change]) -> Result<(), HandlerError> {
        let path = path_of(io, desired, "path")?;
        if desired.purged() {
            return io.remove_file(&path).map_err(|e| HandlerError::new(format!("cannot remove {}: {e}", path.display())));
        }
        if changes.iter().any(|c| c.field == "content" || c.field == "purged") {
            let content = desired.str_attr("content").unwrap_or_default();
            io.write_file(&path, content.as_bytes()).map_err(|e| HandlerError::new(format!("cannot write {}: {e}", path.display())))?;
        }
        apply_ownership(io, &path, desired, changes)
    }

    fn preview(&self, desired: &ResourceDoc, current: Option<&Fields>, changes: &[Change]) -> String {
        content_preview(desired, current, changes, desired.str_attr("content").unwrap_or_default())
    }
}

pub struct DirectoryHandler;

impl Handler for DirectoryHandler {
    fn fields(&self) -> &[&str] {
        &["mode", "owner", "group"]
    }

    fn read(&self, io: &dyn Io, desired: &ResourceDoc) -> Result<Option<Fields>, HandlerError> {
        let path = path_of(io, desired, "path")?;
        let Some(stat) = io.stat(&path)? else { return Ok(None) };
        if stat.kind != FileKind::Directory {
            return Err(HandlerError::new(format!("{} exists and is not a directory", path.display())));
        }
        let mut fields = Fields::new();
        read_ownership(io, &stat, &mut fields)?;
        Ok(Some(fields))
    }

    fn apply(&self, io: &dyn Io, desired: &ResourceDoc, _current: Option<&Fields>, changes: &[Change]) -> Result<(), HandlerError> {
        let path = path_of(io, desired, "path")?;
        if desired.purged() {
            return io.remove_dir(&path).map_err(|e| HandlerError::new(format!("cannot remove {}: {e}", path.display())));
        }
        if changes.iter().any(|c| c.field == "purged") {
            io.create_dir(&path).map_err(|e| HandlerError::new(format!("cannot create {}: {e}", path.display())))?;
        }
        apply_ownership(io, &path, desired, changes)
    }
}

pub struct SymlinkHandler;

impl Handler for SymlinkHandler {
    fn fields(&self) -> &[&str] {
        &["src"]
    }

    fn read(&self, io: &dyn Io, desired: &ResourceDoc) -> Result<Option<Fields>, HandlerError> {
        let link = path_of(io, desired, "dst")?;
        let Some(stat) = io.stat(&link)? else { return Ok(None) };
        if stat.kind != FileKind::Symlink {
            return Err(HandlerError::new(format!("{} exists and is not a symbolic link", link.display())));
        }
        let mut fields = Fields::new();
        fields.insert("src".into(), Value::from(stat.target.unwrap_or_default()));
        Ok(Some(fields))
    }

    fn apply(&self, io: &dyn Io, desired: &ResourceDoc, current: Option<&Fields>, _changes: &[Change]) -> Result<(), HandlerError> {
        let link = path_of(io, desired, "dst")?;
        if current.is_some() {
            io.remove_file(&link).map_err(|e| HandlerError::new(format!("cannot remove {}: {e}", link.display())))?;
        }
        if desired.purged() {
            return Ok(());
        }
        let target = desired.str_attr("src").unwrap_or_default();
        io.symlink(target, &link).map_err(|e| HandlerError::new(format!("cannot link {} -> {target}: {e}", link.display())))
    }
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

    fn read(&self, io: &dyn Io, desired: &ResourceDoc) -> Result<Option<Fields>, HandlerError> {
        FileHandler.read(io, desired)
    }

    fn diff(&self, desired: &ResourceDoc, current: Option<&Fields>) -> Vec<Change> {
        let mut with_content = desired.clone();
        with_content.attributes.insert("content".into(), Value::from(Self::rendered(desired)));
        default_diff(self.fields(), &with_content, current)
    }

    fn apply(&self, io: &dyn Io, desired: &ResourceDoc, current: Option<&Fields>, changes: &[Change]) -> Result<(), HandlerError> {
        let mut with_content = desired.clone();
        with_content.attributes.insert("content".into(), Value::from(Self::rendered(desired)));
        FileHandler.apply(io, &with_content, current, changes)
    }

    fn preview(&self, desired: &ResourceDoc, current: Option<&Fields>, changes: &[Change]) -> String {
        content_preview(desired, current, changes, &Self::rendered(desired))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_convert_both_ways() {
        assert_eq!(mode_digits(0o644), 644);
        assert_eq!(mode_digits(0o4755), 4755);
        assert_eq!(mode_bits(755).expect("octal"), 0o755);
        assert!(mode_bits(789).is_err());
    }
}
