//! The plugin host end to end: projects with a v1 module whose `plugins/` hold Python plugins,
//! compiled through the pipeline with a real `python3` host. The protocol's bad cases (a plugin
//! that raises, loops, prints, kills its host, a module that fails to import) each give a
//! clear diagnostic at the call site and never a hang; values cross by reference and wait for
//! late values; a model without Python code never starts Python.

use cairn_compiler::fs::RealFs;
use cairn_pipeline::{build, shipped_modules, Build, CompileSettings, PythonSettings};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A throw-away project: `main.cf`, and module `pm` with `plugins/__init__.py` = `python`.
struct Project {
    root: PathBuf,
}

impl Project {
    fn new(name: &str, main: &str, python: &str) -> Project {
        let root = std::env::temp_dir().join(format!("cairn-pyhost-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let module = root.join("libs/pm");
        std::fs::create_dir_all(module.join("model")).expect("module folder");
        std::fs::create_dir_all(module.join("plugins")).expect("plugins folder");
        std::fs::write(root.join("project.yml"), "name: t\nmodulepath: libs\n").expect("project.yml");
        std::fs::write(root.join("main.cf"), main).expect("main.cf");
        std::fs::write(module.join("module.yml"), "name: pm\nversion: 1.0.0\n").expect("module.yml");
        std::fs::write(module.join("model/_init.cf"), "entity Box:\n    string name\n    int size = 0\nend\nBox.peers [0:] -- Box\nimplement Box using std::none\n")
            .expect("model");
        std::fs::write(module.join("plugins/__init__.py"), python).expect("plugins");
        Project { root }
    }

    fn add_module(&self, name: &str, python: &str) {
        let module = self.root.join("libs").join(name);
        std::fs::create_dir_all(module.join("model")).expect("module folder");
        std::fs::create_dir_all(module.join("plugins")).expect("plugins folder");
        std::fs::write(module.join("module.yml"), format!("name: {name}\nversion: 1.0.0\n")).expect("module.yml");
        std::fs::write(module.join("model/_init.cf"), "").expect("model");
        std::fs::write(module.join("plugins/__init__.py"), python).expect("plugins");
    }

    fn build_with(&self, limit: Duration) -> Build {
        let python = PythonSettings {
            venv: None,
            path: std::env::var_os("PATH"),
            cache: Some(std::env::temp_dir().join(format!("cairn-pyhost-cache-{}", std::process::id()))),
            call_limit: limit,
            host_dir: None,
        };
        build(&RealFs, &self.root, &shipped_modules(), &CompileSettings { python, ..CompileSettings::default() }).expect("the project loads")
    }

    fn build(&self) -> Build {
        self.build_with(Duration::from_secs(30))
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

const HEADER: &str = "from inmanta.plugins import plugin, PluginException\n";

fn output(build: &Build) -> Vec<String> {
    build.compilation.execution.as_ref().map(|e| e.output.clone()).unwrap_or_default()
}

fn messages(build: &Build) -> Vec<String> {
    build.diagnostics.iter().map(|d| format!("{} | {}", d.message, d.hint.clone().unwrap_or_default())).collect()
}

fn line_of(build: &Build, index: usize) -> usize {
    build.diagnostics[index].line(&build.compilation.session.sources)
}

#[test]
fn plugins_get_plain_values_and_return_them() {
    let python = format!(
        "{HEADER}@plugin\ndef shout(text: \"string\", times: \"int\" = 1) -> \"string\":\n    return (text.upper() + '!') * times\n\n\
         @plugin\ndef stats(values: \"list\") -> \"dict\":\n    return {{'n': len(values), 'sum': sum(values), 'mean': sum(values) / len(values)}}\n"
    );
    let project = Project::new(
        "values",
        "import pm\nstd::print(pm::shout(\"hi\"))\nstd::print(pm::shout(\"a\", times=3))\ns = pm::stats([1, 2, 3, 4])\nstd::print(s[\"n\"])\nstd::print(s[\"mean\"])\n",
        &python,
    );
    let build = project.build();
    assert!(build.succeeded(), "{:#?}", messages(&build));
    assert_eq!(output(&build), ["HI!", "A!A!A!", "4", "2.5"]);
    assert!(build.python.started());
}

#[test]
fn instances_cross_by_reference_and_late_values_are_waited_for() {
    // `describe` reads an attribute and a relation of the instance it is given; the
    // relation is filled later in the model, so the call waits and runs again.
    let python = format!(
        "{HEADER}@plugin\ndef describe(box: \"pm::Box\") -> \"string\":\n    return box.name + ':' + ','.join(sorted(p.name for p in box.peers))\n\n\
         @plugin\ndef first_peer(box: \"pm::Box\") -> \"pm::Box\":\n    return box.peers[0]\n"
    );
    let main = "import pm\na = pm::Box(name=\"a\")\nstd::print(pm::describe(a))\nfirst = pm::first_peer(a)\nstd::print(first.name)\n\
                b = pm::Box(name=\"b\")\na.peers += b\na.peers += pm::Box(name=\"c\")\n";
    let project = Project::new("refs", main, &python);
    let build = project.build();
    assert!(build.succeeded(), "{:#?}", messages(&build));
    assert_eq!(output(&build), ["a:b,c", "b"]);
}

#[test]
fn a_plugin_that_raises_is_an_error_at_its_call_with_the_traceback() {
    let python = format!(
        "{HEADER}def check(value):\n    if value < 0:\n        raise PluginException(f'negative: {{value}}')\n    return value\n\n\
         @plugin\ndef positive(value: \"int\") -> \"int\":\n    return check(value)\n"
    );
    let project = Project::new("raises", "import pm\nx = pm::positive(1)\n\ny = pm::positive(-5)\n", &python);
    let build = project.build();
    assert_eq!(build.diagnostics.len(), 1, "{:#?}", messages(&build));
    let diagnostic = &build.diagnostics[0];
    assert_eq!(diagnostic.kind, "plugin");
    assert!(diagnostic.message.contains("plugin `pm::positive` failed: PluginException: negative: -5"), "{}", diagnostic.message);
    let hint = diagnostic.hint.as_deref().unwrap_or_default();
    assert!(hint.contains("Python traceback") && hint.contains("in check"), "{hint}");
    assert_eq!(line_of(&build, 0), 4, "the call that failed");
}

#[test]
fn a_plugin_that_loops_is_stopped_at_the_time_limit_and_the_next_call_gets_a_new_host() {
    let python = format!("{HEADER}@plugin\ndef spin() -> \"int\":\n    while True:\n        pass\n\n@plugin\ndef one() -> \"int\":\n    return 1\n");
    let project = Project::new("loops", "import pm\nx = pm::spin()\ny = pm::one()\nstd::print(y)\n", &python);
    let started = Instant::now();
    let build = project.build_with(Duration::from_millis(1500));
    assert!(started.elapsed() < Duration::from_secs(20), "bounded: {:?}", started.elapsed());
    let all = messages(&build);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(all[0].contains("plugin `pm::spin` did not finish within 1.5 s and was stopped"), "{}", all[0]);
    assert_eq!(line_of(&build, 0), 2);
    assert_eq!(output(&build), ["1"], "the next call ran in a new host");
    assert_eq!(build.python.stats().starts, 2);
}

#[test]
fn a_plugin_that_prints_keeps_the_protocol_intact() {
    let python = format!(
        "import os, sys\n{HEADER}@plugin\ndef noisy() -> \"string\":\n    print('hello from python')\n    os.write(1, b'raw bytes on fd 1\\n')\n    \
         sys.stdout.flush()\n    return 'done'\n"
    );
    let project = Project::new("prints", "import pm\nstd::print(pm::noisy())\n", &python);
    let build = project.build();
    assert!(build.succeeded(), "{:#?}", messages(&build));
    assert_eq!(output(&build), ["hello from python", "done"]);
}

#[test]
fn a_host_that_dies_is_reported_with_its_last_words_and_replaced() {
    let python = format!(
        "import os, sys\n{HEADER}@plugin\ndef die() -> \"int\":\n    sys.stderr.write('about to go\\n')\n    sys.stderr.flush()\n    os._exit(3)\n\n\
         @plugin\ndef two() -> \"int\":\n    return 2\n"
    );
    let project = Project::new("dies", "import pm\nx = pm::die()\nstd::print(pm::two())\n", &python);
    let build = project.build();
    let all = messages(&build);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(all[0].contains("the plugin host exited (exit status: 3) during plugin `pm::die`"), "{}", all[0]);
    assert!(all[0].contains("about to go"), "its stderr is shown: {}", all[0]);
    assert_eq!(line_of(&build, 0), 2);
    assert_eq!(output(&build), ["2"]);
}

#[test]
fn a_module_whose_python_fails_to_import_fails_its_calls_only() {
    let python = format!("{HEADER}@plugin\ndef fine() -> \"string\":\n    return 'fine'\n");
    let project = Project::new("imports", "import pm\nimport broken\nstd::print(pm::fine())\nx = broken::thing()\n", &python);
    project.add_module("broken", "import module_that_does_not_exist\n");
    let build = project.build();
    let all = messages(&build);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(all[0].contains("the Python code of module `broken` failed to import: ModuleNotFoundError"), "{}", all[0]);
    assert!(all[0].contains("module_that_does_not_exist"), "{}", all[0]);
    assert_eq!(line_of(&build, 0), 4);
    assert_eq!(output(&build), ["fine"]);
}

#[test]
fn an_import_of_inmanta_the_host_does_not_provide_names_it() {
    let project = Project::new("shim", "import pm\nx = pm::anything()\n", "import inmanta.server.protocol\n");
    let build = project.build();
    let all = messages(&build);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(all[0].contains("does not provide inmanta.server"), "{}", all[0]);
}

#[test]
fn bad_arguments_are_reported_at_the_call() {
    let python = format!("{HEADER}@plugin\ndef double(n: \"int\") -> \"int\":\n    return n * 2\n");
    let project = Project::new("arguments", "import pm\nx = pm::double(\"two\")\ny = pm::double(1, 2)\nz = pm::nothing_here()\n", &python);
    let build = project.build();
    let all = messages(&build);
    assert_eq!(all.len(), 3, "{all:#?}");
    assert!(all.iter().any(|m| m.contains("pm::double") && m.contains("two")), "{all:#?}");
    assert!(all.iter().any(|m| m.contains("pm::double") && m.contains("argument")), "{all:#?}");
    assert!(all.iter().any(|m| m.contains("could not find plugin `pm::nothing_here`")), "{all:#?}");
}

#[test]
fn a_python_plugin_in_code_that_never_runs_is_no_error_and_starts_no_host() {
    // The implementation is selected by no instance, and the typedef checks no value.
    let main = "import pm\ntypedef small as int matching pm::is_small(self)\nentity Unused:\nend\n\
                implementation uses for Unused:\n    x = pm::missing()\nend\nimplement Unused using uses\nstd::print(\"ok\")\n";
    let project = Project::new("never", main, "raise RuntimeError('never imported')\n");
    let build = project.build();
    assert!(build.succeeded(), "{:#?}", messages(&build));
    assert!(!build.python.started(), "no Python code was reached");
}

#[test]
fn a_model_without_python_code_runs_without_python_installed() {
    let root = std::env::temp_dir().join(format!("cairn-pyhost-nopython-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("project");
    std::fs::write(root.join("project.yml"), "name: t\nmodulepath: libs\n").expect("project.yml");
    std::fs::write(root.join("main.cf"), "std::print(std::upper(\"native\"))\n").expect("main.cf");
    let python = PythonSettings { path: Some(std::ffi::OsString::from("/nonexistent")), ..PythonSettings::default() };
    let build = build(&RealFs, &root, &shipped_modules(), &CompileSettings { python, ..CompileSettings::default() }).expect("loads");
    assert!(build.succeeded(), "{:#?}", messages(&build));
    assert_eq!(output(&build), ["NATIVE"]);
    assert!(!build.python.started());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn without_an_interpreter_a_python_call_says_what_is_missing() {
    let project = Project::new("nointerpreter", "import pm\nx = pm::f()\n", "");
    let python = PythonSettings { path: Some(std::ffi::OsString::from("/nonexistent")), ..PythonSettings::default() };
    let build = build(&RealFs, &project.root, &shipped_modules(), &CompileSettings { python, ..CompileSettings::default() }).expect("loads");
    let all = messages(&build);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(all[0].contains("there is no Python interpreter") && all[0].contains("--venv"), "{}", all[0]);
}

#[test]
fn python_resources_export_with_mapped_fields_and_ignored_instances() {
    let python = "from inmanta.resources import resource, PurgeableResource, IgnoreResourceException\n\
                  @resource('pm::Service', agent='host', id_attribute='name')\n\
                  class Service(PurgeableResource):\n    fields = ('name', 'port', 'label')\n\n    \
                  @staticmethod\n    def get_label(exporter, service):\n        if service.port == 0:\n            raise IgnoreResourceException()\n        \
                  return f'{service.name}@{service.port}'\n";
    let project = Project::new("resources", "import pm\npm::Service(name=\"web\", port=80)\npm::Service(name=\"off\", port=0)\n", python);
    std::fs::write(
        project.root.join("libs/pm/model/_init.cf"),
        "entity Service extends std::PurgeableResource:\n    string name\n    int port\n    string host = \"h1\"\nend\nimplement Service using std::none\n",
    )
    .expect("model");
    let build = project.build();
    assert!(build.succeeded(), "{:#?}", messages(&build));
    let export = build.export.as_ref().expect("exported");
    assert_eq!(export.resources.len(), 1, "the ignored one is left out");
    let resource = &export.resources[0];
    assert_eq!(resource.id, "pm::Service[h1,name=web]");
    let field = |name: &str| resource.attribute(name).map(|v| format!("{v:?}"));
    assert_eq!(field("label").as_deref(), Some("Str(\"web@80\")"));
    assert_eq!(field("port").as_deref(), Some("Int(80)"));
    assert_eq!(field("purged").as_deref(), Some("Bool(false)"));
    assert!(resource.attribute("host").is_none(), "only the declared fields");
}


#[test]
fn only_the_modules_the_model_imports_are_loaded_by_the_host() {
    let python = format!("{HEADER}@plugin\ndef one() -> \"int\":\n    return 1\n");
    let project = Project::new("imported", "import pm\nstd::print(pm::one())\n", &python);
    // On the module path, never imported: its Python would leave a mark if it ran.
    let mark = project.root.join("unused-was-imported");
    project.add_module("unused", &format!("open({:?}, 'w').close()\n", mark.display().to_string()));
    let build = project.build();
    assert!(build.succeeded(), "{:#?}", messages(&build));
    assert_eq!(output(&build), ["1"]);
    let modules: Vec<String> = build.python.modules().into_iter().map(|m| m.name).collect();
    assert_eq!(modules, ["pm"]);
    assert!(!mark.exists(), "the Python of a module the model does not import ran");
}
