//! `cairn modules`: where each loaded module comes from and which of its plugins and resource
//! types are native or Python (a v1 module with Python plugins, run by a real `python3`).

use super::{cairn, temp_dir};

#[test]
fn modules_lists_origins_and_what_runs_in_python() {
    let dir = temp_dir("modules");
    let module = dir.join("libs/greet");
    std::fs::create_dir_all(module.join("model")).expect("model folder");
    std::fs::create_dir_all(module.join("plugins")).expect("plugins folder");
    std::fs::write(dir.join("project.yml"), "name: m\nmodulepath: libs\n").expect("project.yml");
    std::fs::write(dir.join("main.cf"), "import greet\nimport fs\n").expect("main.cf");
    std::fs::write(module.join("module.yml"), "name: greet\nversion: 1.0.0\n").expect("module.yml");
    std::fs::write(module.join("model/_init.cf"), "entity Hello extends std::Resource:\n    string name\nend\n").expect("model");
    std::fs::write(
        module.join("plugins/__init__.py"),
        "from inmanta.plugins import plugin\nfrom inmanta.resources import resource, Resource\n\n\
         @plugin\ndef hello(name: \"string\") -> \"string\":\n    return 'hello ' + name\n\n\
         @resource('greet::Hello', agent='name', id_attribute='name')\nclass Hello(Resource):\n    fields = ('name',)\n",
    )
    .expect("plugins");
    let output = cairn(&["modules", "."], &dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.contains(&"std (shipped)"), "{stdout}");
    assert!(lines.contains(&"fs (shipped)"), "{stdout}");
    assert!(lines.iter().any(|l| l.starts_with("greet (v1 ") && l.ends_with("libs/greet)")), "{stdout}");
    assert!(lines.contains(&"  plugins (python, 1): greet::hello"), "{stdout}");
    assert!(lines.contains(&"  resources (python, 1): greet::Hello"), "{stdout}");
    assert!(lines.iter().any(|l| l.starts_with("  resources (native, ") && l.contains("fs::File")), "{stdout}");
    let json = cairn(&["modules", ".", "--json"], &dir);
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let greet = parsed.as_array().and_then(|m| m.iter().find(|m| m["name"] == "greet")).expect("greet listed");
    assert_eq!(greet["origin"], "v1");
    assert_eq!(greet["plugins"][0]["runs"], "python");
    let _ = std::fs::remove_dir_all(&dir);
}
