//! Embeds the host's Python code: every `.py` file under `python/` (but its tests) becomes an
//! entry of `HOST_FILES`, so the binary carries the host and nothing is downloaded.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if path.is_dir() {
            if name != "tests" && name != "__pycache__" {
                collect(&path, root, out);
            }
        } else if name.ends_with(".py") {
            out.push(path.strip_prefix(root).map(Path::to_path_buf).unwrap_or(path));
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.join("python");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    let mut code = String::from("/// The host's files: path under the host folder, and text.\npub const HOST_FILES: &[(&str, &str)] = &[\n");
    for file in &files {
        let shown = file.to_string_lossy().replace('\\', "/");
        let _ = writeln!(code, "    ({shown:?}, include_str!({:?})),", root.join(file).display().to_string());
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("host_files.rs");
    std::fs::write(out, code).expect("writes host_files.rs");
}
