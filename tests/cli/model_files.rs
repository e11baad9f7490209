//! What the binary does with model files a hostile or broken repository may hold: a FIFO or a
//! link to `/dev/zero` instead of a `.cf` file (refused, without hanging), bytes that are not
//! UTF-8 (the place is named), a byte order mark (skipped), a missing `modulepath` folder (a
//! warning) and plugin files that are not regular files. Every run has a deadline, so a
//! regression shows as a failure rather than a test that never ends.

use super::temp_dir;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cairn` in `dir`, killed after 20 s (a hang is a failure, not a stuck test run).
fn cairn_with_deadline(args: &[&str], dir: &Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .current_dir(dir)
        .env("CAIRN_COLOR", "never")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cairn runs");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!("cairn {args:?} did not end within 20 s: {}", String::from_utf8_lossy(&output.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, bytes).expect("write");
}

/// A project in a fresh folder with this `main.cf` (none when `None`) and a module `web`.
fn project(name: &str, main: Option<&[u8]>) -> std::path::PathBuf {
    let dir = temp_dir(&format!("files-{name}"));
    write(&dir.join("project.yml"), "name: files\nmodulepath: libs\n");
    if let Some(main) = main {
        write(&dir.join("main.cf"), main);
    }
    write(&dir.join("libs/web/module.yml"), "name: web\nversion: 1.0.0\n");
    write(&dir.join("libs/web/model/_init.cf"), "entity Site:\nend\nimplement Site using std::none\n");
    dir
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_fifo_as_main_cf_is_refused_at_once() {
    let dir = project("fifo-main", None);
    mkfifo(&dir.join("main.cf"));
    let output = cairn_with_deadline(&["compile", "."], &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("error: cannot read ./main.cf: not a regular file but a FIFO (named pipe): only regular files are read"),
        "{}",
        stderr(&output)
    );
    let parsed = cairn_with_deadline(&["parse", "main.cf"], &dir);
    assert_eq!(parsed.status.code(), Some(1));
    assert!(stderr(&parsed).contains("cannot read main.cf: not a regular file but a FIFO"), "{}", stderr(&parsed));
}

#[test]
fn a_module_file_linked_to_dev_zero_is_refused_at_once() {
    let dir = project("dev-zero", Some(b"import web\n"));
    let init = dir.join("libs/web/model/_init.cf");
    std::fs::remove_file(&init).expect("rm");
    std::os::unix::fs::symlink("/dev/zero", &init).expect("symlink");
    let output = cairn_with_deadline(&["compile", "."], &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("_init.cf: not a regular file but a character device: only regular files are read"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn plugins_refuse_files_that_are_not_regular() {
    let dir = project("plugin-fifo", Some(b"import web\nx = std::source(\"web/pipe\")\ny = std::template(\"web/zero.j2\")\n"));
    std::fs::create_dir_all(dir.join("libs/web/files")).expect("mkdir");
    std::fs::create_dir_all(dir.join("libs/web/templates")).expect("mkdir");
    // Inside the module: only its type refuses it.
    mkfifo(&dir.join("libs/web/files/pipe"));
    std::os::unix::fs::symlink("/dev/zero", dir.join("libs/web/templates/zero.j2")).expect("symlink");
    let output = cairn_with_deadline(&["compile", "."], &dir);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("plugin `std::source` failed: `web/pipe`: cannot read"), "{text}");
    assert!(text.contains("not a regular file but a FIFO (named pipe)"), "{text}");
    // `/dev/zero` is outside the module: the link is refused before its type matters.
    assert!(text.contains("plugin `std::template` failed: `web/zero.j2`: it resolves to /dev/zero"), "{text}");
}

#[test]
fn invalid_utf8_names_the_file_and_the_place() {
    let dir = project("utf8", Some(b"a = 1\nb = \"h\xc3\xa9\xff\"\n"));
    write(&dir.join("libs/web/model/_init.cf"), b"entity Site:\nend\n# \xfe\n");
    let output = cairn_with_deadline(&["compile", "."], &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(
            "error: cannot read ./main.cf: invalid UTF-8 at line 2, column 8 (byte offset 14): the file must be UTF-8 text"
        ),
        "{}",
        stderr(&output)
    );
    std::fs::write(dir.join("main.cf"), "import web\n").expect("write");
    let output = cairn_with_deadline(&["compile", "."], &dir);
    assert!(
        stderr(&output).contains("libs/web/model/_init.cf: invalid UTF-8 at line 3, column 3 (byte offset 19)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_byte_order_mark_is_skipped_and_positions_stay_right() {
    let dir = project("bom", Some("\u{feff}import web\nx = web::Site()\ny = 1\ny = 2\n".as_bytes()));
    write(&dir.join("libs/web/model/_init.cf"), "\u{feff}entity Site:\nend\nimplement Site using std::none\n");
    let output = cairn_with_deadline(&["compile", "."], &dir);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    // The error of line 4 is shown at line 4, column 1, with the source of line 4.
    assert!(text.contains("┌─ ./main.cf:4:1"), "{text}");
    assert!(text.contains("4 │ y = 2"), "{text}");
    assert!(!text.contains('\u{feff}'), "{text}");
    std::fs::write(dir.join("main.cf"), "\u{feff}import web\nx = web::Site()\n").expect("write");
    let output = cairn_with_deadline(&["compile", "."], &dir);
    assert!(output.status.success(), "{}", stderr(&output));
    // `cairn parse` reads through the same file system.
    std::fs::write(dir.join("bad.cf"), "\u{feff}entity a:\nend\n").expect("write");
    let parsed = cairn_with_deadline(&["parse", "bad.cf"], &dir);
    assert!(stderr(&parsed).contains("┌─ bad.cf:1:8"), "{}", stderr(&parsed));
}

#[test]
fn a_missing_modulepath_folder_is_a_warning() {
    let dir = project("modulepath", Some(b"import web\n"));
    write(&dir.join("project.yml"), "name: files\nmodulepath: [libs, vendor, 'other/mods']\n");
    let output = cairn_with_deadline(&["compile", "."], &dir);
    let text = stderr(&output);
    assert!(output.status.success(), "a warning does not fail the compile: {text}");
    assert!(
        text.contains("warning: modulepath folder ./vendor (in ./project.yml) does not exist: no modules are found there"),
        "{text}"
    );
    assert!(text.contains("warning: modulepath folder ./other/mods (in ./project.yml) does not exist"), "{text}");
    assert!(!text.contains("./libs (in"), "{text}");
}
