//! Projects and modules on disk: `project.yml`, `module.yml` (read with `yaml_serde`), where
//! modules are found (`modulepath`) and which namespace each `.cf` file defines
//! (`model/_init.cf` is `<module>`, `model/a/b.cf` is `<module>::a::b`), and the messages of
//! this phase ([`ProjectError`], and the [`ProjectWarning`]s that do not stop it).
//!
//! A configuration error names the file, the field (as a path: `requires[1]`) and, where the
//! YAML reader knows it, the line and column. Fields whose shape is more than one YAML type
//! have their own visitors, so that an error says what is expected rather than naming a Rust
//! type.

use crate::fs::FileSystem;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// `project.yml`. Keys Cairn does not use are accepted and ignored.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(expecting = "a mapping of project settings (`name`, `modulepath`, ...)")]
pub struct ProjectConfig {
    pub name: String,
    /// A list, or one string of paths separated by `:` (Inmanta accepts both).
    #[serde(default, deserialize_with = "path_list")]
    pub modulepath: Vec<String>,
    #[serde(default)]
    pub downloadpath: Option<String>,
    #[serde(default)]
    pub repo: Vec<RepoEntry>,
    #[serde(default, deserialize_with = "string_list")]
    pub requires: Vec<String>,
    #[serde(default)]
    pub install_mode: Option<String>,
}

/// A `repo` entry: a plain URL or `{url, type}`.
#[derive(Clone, Debug, PartialEq)]
pub enum RepoEntry {
    Url(String),
    Typed { url: String, kind: Option<String> },
}

/// `module.yml`. Keys Cairn does not use are accepted and ignored.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(expecting = "a mapping of module settings (`name`, `version`, ...)")]
pub struct ModuleConfig {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub requires: Vec<String>,
    #[serde(default)]
    pub compiler_version: Option<String>,
    #[serde(default)]
    pub license: Option<String>,
}

/// `modulepath`: a list of strings, or one string of `:`-separated paths; null is empty.
fn path_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct PathList;
    impl<'de> Visitor<'de> for PathList {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_str<E: de::Error>(self, paths: &str) -> Result<Vec<String>, E> {
            Ok(paths.split(':').filter(|p| !p.is_empty()).map(str::to_string).collect())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Vec<String>, A::Error> {
            strings(seq)
        }
    }
    deserializer.deserialize_any(PathList)
}

/// A list of strings (`requires`); null is empty.
fn string_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct StringList;
    impl<'de> Visitor<'de> for StringList {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of strings")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Vec<String>, A::Error> {
            strings(seq)
        }
    }
    deserializer.deserialize_any(StringList)
}

/// The elements of a sequence, each a string (an element of another type is an error at
/// that element, `field[index]`).
fn strings<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<String>, A::Error> {
    let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
    while let Some(item) = seq.next_element::<String>()? {
        out.push(item);
    }
    Ok(out)
}

impl<'de> Deserialize<'de> for RepoEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = RepoEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a URL or a mapping with `url` and `type`")
            }
            fn visit_str<E: de::Error>(self, url: &str) -> Result<RepoEntry, E> {
                Ok(RepoEntry::Url(url.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RepoEntry, A::Error> {
                let (mut url, mut kind) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "url" => url = Some(map.next_value::<String>()?),
                        "type" => kind = map.next_value::<Option<String>>()?,
                        // Other keys (Inmanta has a few more) are accepted and ignored.
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                let url = url.ok_or_else(|| de::Error::missing_field("url"))?;
                Ok(RepoEntry::Typed { url, kind })
            }
        }
        deserializer.deserialize_any(Entry)
    }
}

#[derive(Debug)]
pub enum ProjectError {
    Missing(PathBuf),
    Read(PathBuf, std::io::Error),
    /// A `project.yml` or `module.yml` that is not valid YAML or not of the expected shape:
    /// the YAML reader's message, which names the field and the place.
    Yaml(PathBuf, String),
    /// Installing a required module failed.
    Fetch(String),
}

impl std::fmt::Display for ProjectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProjectError::Missing(path) => write!(f, "{} not found: a project needs a project.yml", path.display()),
            ProjectError::Read(path, error) => write!(f, "cannot read {}: {error}", path.display()),
            ProjectError::Yaml(path, error) => write!(f, "invalid {}: {error}", path.display()),
            ProjectError::Fetch(message) => write!(f, "cannot install a required module: {message}"),
        }
    }
}

impl std::error::Error for ProjectError {}

/// Something about the project worth knowing that does not stop the compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProjectWarning {
    /// A `modulepath` folder that does not exist (Inmanta, too, just finds no modules there;
    /// usually a typo or a checkout that is missing).
    MissingModulePath { folder: PathBuf, config: PathBuf },
}

impl std::fmt::Display for ProjectWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProjectWarning::MissingModulePath { folder, config } => write!(
                f,
                "modulepath folder {} (in {}) does not exist: no modules are found there",
                folder.display(),
                config.display()
            ),
        }
    }
}

/// A loaded project: its configuration and the modules found on its module path.
#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    pub config: ProjectConfig,
    pub modules: Vec<ModuleSource>,
    /// What the embedder should show, in the order found.
    pub warnings: Vec<ProjectWarning>,
}

/// How a module is laid out: a v1 module is a folder on the module path, its Python code in
/// `plugins/`; a v2 module is a package installed in a virtualenv
/// (`site-packages/inmanta_plugins/NAME/`), its Python code in the folder itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    V1,
    V2,
}

/// One module folder and the `.cf` files of its model, each with its namespace.
#[derive(Debug, Clone)]
pub struct ModuleSource {
    pub name: String,
    pub root: PathBuf,
    pub kind: ModuleKind,
    pub config: Option<ModuleConfig>,
    /// `(namespace, path)`, sorted by namespace.
    pub files: Vec<(String, PathBuf)>,
}

impl Project {
    pub fn load(fs: &dyn FileSystem, root: &Path) -> Result<Project, ProjectError> {
        Project::load_with_packages(fs, root, &[])
    }

    /// Loads the project, with the v2 modules installed in `packages` too: folders named
    /// `inmanta_plugins` of a virtualenv's site-packages, each subfolder a module. The module
    /// path comes first: the first module of a name wins.
    pub fn load_with_packages(fs: &dyn FileSystem, root: &Path, packages: &[PathBuf]) -> Result<Project, ProjectError> {
        let config_path = root.join("project.yml");
        if !fs.is_file(&config_path) {
            return Err(ProjectError::Missing(config_path));
        }
        let text = fs.read_to_string(&config_path).map_err(|e| ProjectError::Read(config_path.clone(), e))?;
        let config: ProjectConfig =
            yaml_serde::from_str(&text).map_err(|e| ProjectError::Yaml(config_path.clone(), e.to_string()))?;
        let mut modules = Vec::new();
        let mut warnings = Vec::new();
        let mut search: Vec<PathBuf> = config.modulepath.iter().map(|p| root.join(p)).collect();
        for dir in &search {
            if !fs.is_dir(dir) {
                warnings.push(ProjectWarning::MissingModulePath { folder: dir.clone(), config: config_path.clone() });
            }
        }
        // The download folder exists only once a module was installed: not being there yet is
        // no news.
        if let Some(download) = &config.downloadpath {
            let download = root.join(download);
            if !search.contains(&download) {
                search.push(download);
            }
        }
        let search = search.into_iter().map(|dir| (dir, ModuleKind::V1)).chain(packages.iter().map(|dir| (dir.clone(), ModuleKind::V2)));
        for (dir, kind) in search {
            if !fs.is_dir(&dir) {
                continue;
            }
            for entry in fs.read_dir(&dir).map_err(|e| ProjectError::Read(dir.clone(), e))? {
                let loaded = match kind {
                    ModuleKind::V1 => ModuleSource::load(fs, &entry)?,
                    ModuleKind::V2 => ModuleSource::load_installed(fs, &entry)?,
                };
                if let Some(module) = loaded {
                    // The first module of a name on the path wins, as in Inmanta.
                    if !modules.iter().any(|m: &ModuleSource| m.name == module.name) {
                        modules.push(module);
                    }
                }
            }
        }
        Ok(Project { root: root.to_path_buf(), config, modules, warnings })
    }

    pub fn main_file(&self) -> PathBuf {
        self.root.join("main.cf")
    }
}

impl ModuleSource {
    /// Loads a module folder; `None` when the folder is not a module (no `module.yml` and no
    /// `model/_init.cf`).
    pub fn load(fs: &dyn FileSystem, root: &Path) -> Result<Option<ModuleSource>, ProjectError> {
        let config_path = root.join("module.yml");
        let model = root.join("model");
        let has_config = fs.is_file(&config_path);
        if !has_config && !fs.is_file(&model.join("_init.cf")) {
            return Ok(None);
        }
        let config = if has_config {
            let text = fs.read_to_string(&config_path).map_err(|e| ProjectError::Read(config_path.clone(), e))?;
            Some(yaml_serde::from_str::<ModuleConfig>(&text).map_err(|e| ProjectError::Yaml(config_path.clone(), e.to_string()))?)
        } else {
            None
        };
        let folder_name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let name = config.as_ref().map(|c| c.name.clone()).filter(|n| !n.is_empty()).unwrap_or(folder_name);
        let mut files = Vec::new();
        if fs.is_dir(&model) {
            collect_cf(fs, &model, &name, &mut files)?;
        }
        files.sort();
        Ok(Some(ModuleSource { name, root: root.to_path_buf(), kind: ModuleKind::V1, config, files }))
    }

    /// Loads a v2 module installed in a virtualenv (`inmanta_plugins/NAME/`, its model in
    /// `model/`); `None` when the folder has no model.
    pub fn load_installed(fs: &dyn FileSystem, root: &Path) -> Result<Option<ModuleSource>, ProjectError> {
        let model = root.join("model");
        if !fs.is_file(&model.join("_init.cf")) {
            return Ok(None);
        }
        let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut files = Vec::new();
        collect_cf(fs, &model, &name, &mut files)?;
        files.sort();
        Ok(Some(ModuleSource { name, root: root.to_path_buf(), kind: ModuleKind::V2, config: None, files }))
    }

    /// The folder of the module's Python package (`inmanta_plugins.NAME`), when it has
    /// Python code: `plugins/` of a v1 module, the module's own folder for a v2 module.
    pub fn python_package(&self, fs: &dyn FileSystem) -> Option<PathBuf> {
        let folder = match self.kind {
            ModuleKind::V1 => self.root.join("plugins"),
            ModuleKind::V2 => self.root.clone(),
        };
        let has_python = fs.is_dir(&folder)
            && fs.read_dir(&folder).map(|entries| entries.iter().any(|e| e.extension().is_some_and(|x| x == "py"))).unwrap_or(false);
        has_python.then_some(folder)
    }
}

fn collect_cf(fs: &dyn FileSystem, dir: &Path, namespace: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), ProjectError> {
    for entry in fs.read_dir(dir).map_err(|e| ProjectError::Read(dir.to_path_buf(), e))? {
        let Some(file_name) = entry.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
        if fs.is_dir(&entry) {
            collect_cf(fs, &entry, &format!("{namespace}::{file_name}"), out)?;
        } else if let Some(stem) = file_name.strip_suffix(".cf") {
            let ns = if stem == "_init" { namespace.to_string() } else { format!("{namespace}::{stem}") };
            out.push((ns, entry));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;

    #[test]
    fn loads_project_and_maps_namespaces() {
        let mut fs = MemFs::new();
        fs.add("/p/project.yml", "name: demo\nmodulepath: libs\nextra_key: 1\n")
            .add("/p/main.cf", "")
            .add("/p/libs/web/module.yml", "name: web\nversion: 1.0.0\n")
            .add("/p/libs/web/model/_init.cf", "")
            .add("/p/libs/web/model/server.cf", "")
            .add("/p/libs/web/model/a/b.cf", "")
            .add("/p/libs/notamodule/readme.txt", "");
        let project = Project::load(&fs, Path::new("/p")).expect("project loads");
        assert_eq!(project.config.name, "demo");
        assert_eq!(project.modules.len(), 1);
        let namespaces: Vec<_> = project.modules[0].files.iter().map(|(ns, _)| ns.as_str()).collect();
        assert_eq!(namespaces, ["web", "web::a::b", "web::server"]);
    }

    #[test]
    fn a_missing_modulepath_folder_is_a_warning_naming_it_and_the_file() {
        let mut fs = MemFs::new();
        fs.add("/p/project.yml", "name: p\nmodulepath: [libs, vendor]\ndownloadpath: downloads\n")
            .add("/p/main.cf", "")
            .add("/p/libs/web/model/_init.cf", "");
        let project = Project::load(&fs, Path::new("/p")).expect("project loads");
        assert_eq!(project.modules.len(), 1);
        let warnings: Vec<String> = project.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(warnings, ["modulepath folder /p/vendor (in /p/project.yml) does not exist: no modules are found there"]);
    }

    #[test]
    fn modulepath_accepts_a_list_and_repo_entries_both_forms() {
        let config: ProjectConfig = yaml_serde::from_str(
            "name: x\nmodulepath: [a, b]\nrepo: ['https://example.invalid/{}', {url: 'https://x.invalid', type: git}]\n",
        )
        .expect("parses");
        assert_eq!(config.modulepath, ["a", "b"]);
        assert_eq!(config.repo.len(), 2);
    }

    #[test]
    fn missing_project_file_is_a_clear_error() {
        let fs = MemFs::new();
        let error = Project::load(&fs, Path::new("/nowhere")).expect_err("no project");
        assert!(error.to_string().contains("project.yml"));
    }

    /// The message of loading a project whose `project.yml` is `text`.
    fn project_error(text: &str) -> String {
        let mut fs = MemFs::new();
        fs.add("/p/project.yml", text);
        Project::load(&fs, Path::new("/p")).map(|_| ()).expect_err("the project is refused").to_string()
    }

    #[test]
    fn a_missing_name_is_named_with_the_file() {
        assert_eq!(project_error("modulepath: libs\n"), "invalid /p/project.yml: missing field `name`");
        let mut fs = MemFs::new();
        fs.add("/p/project.yml", "name: p\nmodulepath: libs\n").add("/p/libs/m/module.yml", "version: 1.0.0\n");
        let error = Project::load(&fs, Path::new("/p")).map(|_| ()).expect_err("the module is refused").to_string();
        assert_eq!(error, "invalid /p/libs/m/module.yml: missing field `name`");
    }

    #[test]
    fn a_modulepath_of_the_wrong_type_says_what_is_expected() {
        assert_eq!(
            project_error("name: p\nmodulepath: 3\n"),
            "invalid /p/project.yml: modulepath: invalid type: integer `3`, expected a string or a list of strings at line 2 column 13"
        );
        assert_eq!(
            project_error("name: p\nmodulepath: {a: b}\n"),
            "invalid /p/project.yml: modulepath: invalid type: map, expected a string or a list of strings at line 2 column 13"
        );
        assert_eq!(
            project_error("name: p\nmodulepath: [libs, [nested]]\n"),
            "invalid /p/project.yml: modulepath[1]: invalid type: sequence, expected a string at line 2 column 20"
        );
    }

    #[test]
    fn requires_of_the_wrong_type_names_the_field_and_the_element() {
        assert_eq!(
            project_error("name: p\nrequires: std\n"),
            "invalid /p/project.yml: requires: invalid type: string \"std\", expected a list of strings at line 2 column 11"
        );
        assert_eq!(
            project_error("name: p\nrequires: [std, {a: 1}]\n"),
            "invalid /p/project.yml: requires[1]: invalid type: map, expected a string at line 2 column 17"
        );
    }

    #[test]
    fn invalid_yaml_gives_the_line() {
        assert_eq!(
            project_error("name: p\n  modulepath: libs\n"),
            "invalid /p/project.yml: mapping values are not allowed in this context at line 2 column 13"
        );
        assert_eq!(
            project_error("name: p\nrepo: [a\n"),
            "invalid /p/project.yml: did not find expected ',' or ']' at line 3 column 1, while parsing a flow sequence at line 2 column 7"
        );
    }

    #[test]
    fn a_repo_entry_of_the_wrong_shape_says_what_is_expected() {
        assert_eq!(
            project_error("name: p\nrepo: [[a]]\n"),
            "invalid /p/project.yml: repo[0]: invalid type: sequence, expected a URL or a mapping with `url` and `type` at line 2 column 8"
        );
        assert_eq!(project_error("name: p\nrepo: [{type: git}]\n"), "invalid /p/project.yml: repo[0]: missing field `url` at line 2 column 8");
        assert_eq!(
            project_error("- name: p\n"),
            "invalid /p/project.yml: invalid type: sequence, expected a mapping of project settings (`name`, `modulepath`, ...)"
        );
    }

    #[test]
    fn unknown_keys_are_accepted() {
        let mut fs = MemFs::new();
        fs.add("/p/project.yml", "name: p\nmodulepath: libs\nagent_install_dependency_modules: true\npip: {index_url: x}\nrequires:\n")
            .add("/p/libs/m/module.yml", "name: m\nversion: 1.0.0\nauthor: someone\nfreeze_recursive: false\n")
            .add("/p/libs/m/model/_init.cf", "");
        let project = Project::load(&fs, Path::new("/p")).expect("project loads");
        assert_eq!(project.config.name, "p");
        assert!(project.config.requires.is_empty(), "an empty `requires:` is no requirement");
        assert_eq!(project.modules[0].config.as_ref().map(|c| c.name.as_str()), Some("m"));
        let config: ProjectConfig =
            yaml_serde::from_str("name: p\nmodulepath: 'a:b:'\nrepo: [{url: u, type: git, branch: main}]\n").expect("parses");
        assert_eq!(config.modulepath, ["a", "b"]);
        assert_eq!(config.repo, [RepoEntry::Typed { url: "u".into(), kind: Some("git".into()) }]);
    }
}

