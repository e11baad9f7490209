//! Projects and modules on disk: `project.yml`, `module.yml`, where modules are found
//! (`modulepath`) and which namespace each `.cf` file defines (`model/_init.cf` is `<module>`,
//! `model/a/b.cf` is `<module>::a::b`).

use crate::fs::FileSystem;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `project.yml`. Keys Cairn does not use are accepted and ignored.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ProjectConfig {
    pub name: String,
    #[serde(default, deserialize_with = "one_or_many")]
    pub modulepath: Vec<String>,
    #[serde(default)]
    pub downloadpath: Option<String>,
    #[serde(default)]
    pub repo: Vec<RepoEntry>,
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default)]
    pub install_mode: Option<String>,
}

/// A `repo` entry: a plain URL or `{url, type}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum RepoEntry {
    Url(String),
    Typed {
        url: String,
        #[serde(default, rename = "type")]
        kind: Option<String>,
    },
}

/// `module.yml`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ModuleConfig {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default)]
    pub compiler_version: Option<String>,
    #[serde(default)]
    pub license: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::One(path)) => path.split(':').filter(|p| !p.is_empty()).map(str::to_string).collect(),
        Some(OneOrMany::Many(paths)) => paths,
    })
}

#[derive(Debug)]
pub enum ProjectError {
    Missing(PathBuf),
    Read(PathBuf, std::io::Error),
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

/// A loaded project: its configuration and the modules found on its module path.
#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    pub config: ProjectConfig,
    pub modules: Vec<ModuleSource>,
}

/// One module folder and the `.cf` files of its model, each with its namespace.
#[derive(Debug, Clone)]
pub struct ModuleSource {
    pub name: String,
    pub root: PathBuf,
    pub config: Option<ModuleConfig>,
    /// `(namespace, path)`, sorted by namespace.
    pub files: Vec<(String, PathBuf)>,
}

impl Project {
    pub fn load(fs: &dyn FileSystem, root: &Path) -> Result<Project, ProjectError> {
        let config_path = root.join("project.yml");
        if !fs.is_file(&config_path) {
            return Err(ProjectError::Missing(config_path));
        }
        let text = fs.read_to_string(&config_path).map_err(|e| ProjectError::Read(config_path.clone(), e))?;
        let config: ProjectConfig =
            serde_yaml::from_str(&text).map_err(|e| ProjectError::Yaml(config_path.clone(), e.to_string()))?;
        let mut modules = Vec::new();
        let mut search: Vec<PathBuf> = config.modulepath.iter().map(|p| root.join(p)).collect();
        if let Some(download) = &config.downloadpath {
            let download = root.join(download);
            if !search.contains(&download) {
                search.push(download);
            }
        }
        for dir in search {
            if !fs.is_dir(&dir) {
                continue;
            }
            for entry in fs.read_dir(&dir).map_err(|e| ProjectError::Read(dir.clone(), e))? {
                if let Some(module) = ModuleSource::load(fs, &entry)? {
                    // The first module of a name on the path wins, as in Inmanta.
                    if !modules.iter().any(|m: &ModuleSource| m.name == module.name) {
                        modules.push(module);
                    }
                }
            }
        }
        Ok(Project { root: root.to_path_buf(), config, modules })
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
            Some(serde_yaml::from_str::<ModuleConfig>(&text).map_err(|e| ProjectError::Yaml(config_path.clone(), e.to_string()))?)
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
        Ok(Some(ModuleSource { name, root: root.to_path_buf(), config, files }))
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
    fn modulepath_accepts_a_list_and_repo_entries_both_forms() {
        let config: ProjectConfig = serde_yaml::from_str(
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
}
