//! Installing the modules a project `requires` but does not have: each missing module is
//! cloned (git2) from the project's `repo` list into its `downloadpath`, and the newest tag
//! that satisfies the version constraint is checked out. Constraints are written as in
//! Inmanta (`name`, `name>=1.0,<2`, `name==1.2.3`, `name~=1.2`).

use cairn_compiler::project::{Project, RepoEntry};
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum FetchError {
    BadRequirement(String),
    NoRepository(String),
    NoMatchingVersion { module: String, constraint: String, tags: Vec<String> },
    Git(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::BadRequirement(text) => write!(f, "cannot read the requirement `{text}` (expected e.g. `name>=1.0,<2`)"),
            FetchError::NoRepository(module) => {
                write!(f, "module `{module}` is required but not on the modulepath, and no `repo` entry of project.yml has it")
            }
            FetchError::NoMatchingVersion { module, constraint, tags } => write!(
                f,
                "no tag of module `{module}` satisfies `{constraint}` (tags: {})",
                if tags.is_empty() { "none".to_string() } else { tags.join(", ") }
            ),
            FetchError::Git(message) => write!(f, "git: {message}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// A parsed requirement: module name and semver constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    pub module: String,
    pub constraint: semver::VersionReq,
    pub text: String,
}

/// Parses `name`, `name>=1.0,<2`, `name == 1.2.3`, `name~=1.2`.
pub fn parse_requirement(text: &str) -> Result<Requirement, FetchError> {
    let bad = || FetchError::BadRequirement(text.to_string());
    let split = text.find(|c: char| "<>=~!".contains(c)).unwrap_or(text.len());
    let module = text[..split].trim().to_string();
    if module.is_empty() || !module.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(bad());
    }
    let mut parts = Vec::new();
    for clause in text[split..].split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let (op, version) = if let Some(v) = clause.strip_prefix("~=") {
            ("~=", v)
        } else if let Some(v) = clause.strip_prefix("==") {
            ("=", v)
        } else if let Some(v) = clause.strip_prefix(">=") {
            (">=", v)
        } else if let Some(v) = clause.strip_prefix("<=") {
            ("<=", v)
        } else if let Some(v) = clause.strip_prefix('>') {
            (">", v)
        } else if let Some(v) = clause.strip_prefix('<') {
            ("<", v)
        } else {
            return Err(bad());
        };
        let version = version.trim();
        if op == "~=" {
            // PEP 440: `~=1.2` is `>=1.2, <2`, `~=1.2.3` is `>=1.2.3, <1.3`.
            let numbers: Vec<u64> = version.split('.').map(|n| n.parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
            match numbers.as_slice() {
                [major, minor] => parts.push(format!(">={major}.{minor}.0, <{}.0.0", major + 1)),
                [major, minor, patch] => parts.push(format!(">={major}.{minor}.{patch}, <{major}.{}.0", minor + 1)),
                _ => return Err(bad()),
            }
        } else {
            parts.push(format!("{op}{version}"));
        }
    }
    let joined = if parts.is_empty() { "*".to_string() } else { parts.join(", ") };
    let constraint = semver::VersionReq::parse(&joined).map_err(|_| bad())?;
    Ok(Requirement { module, constraint, text: text.to_string() })
}

/// A tag as a version: `v1.2`, `1.2.3` (missing parts are zero).
pub fn tag_version(tag: &str) -> Option<semver::Version> {
    let text = tag.strip_prefix('v').unwrap_or(tag);
    let mut numbers = text.split('.').map(|n| n.parse::<u64>());
    let major = numbers.next()?.ok()?;
    let minor = numbers.next().unwrap_or(Ok(0)).ok()?;
    let patch = numbers.next().unwrap_or(Ok(0)).ok()?;
    if numbers.next().is_some() {
        return None;
    }
    Some(semver::Version::new(major, minor, patch))
}

fn repository_urls(project: &Project, module: &str) -> Vec<String> {
    project
        .config
        .repo
        .iter()
        .map(|entry| match entry {
            RepoEntry::Url(url) | RepoEntry::Typed { url, .. } => url.clone(),
        })
        .map(|url| if url.contains("{}") { url.replace("{}", module) } else { format!("{}/{module}", url.trim_end_matches('/')) })
        .collect()
}

/// Installs every required module missing from the module path, and fetches again a module
/// installed earlier into the download path (a Git checkout made here) whose version no longer
/// satisfies its constraint (the constraint or the tags changed); returns `(module, tag)` for
/// each one installed. A module that is there and satisfies its constraint is not fetched: the
/// download path is the cache of the server's compiles.
pub fn install_missing(project: &Project) -> Result<Vec<(String, String)>, FetchError> {
    let download: PathBuf = project
        .root
        .join(project.config.downloadpath.clone().or_else(|| project.config.modulepath.first().cloned()).unwrap_or_else(|| "libs".into()));
    let mut installed = Vec::new();
    for text in &project.config.requires {
        let requirement = parse_requirement(text)?;
        if requirement.module == "std" {
            continue;
        }
        let target = download.join(&requirement.module);
        if let Some(present) = project.modules.iter().find(|m| m.name == requirement.module) {
            let fetched_here = present.root == target && target.join(".git").exists();
            let version = present.config.as_ref().and_then(|c| c.version.as_deref()).and_then(tag_version);
            let satisfied = version.is_some_and(|v| requirement.constraint.matches(&v));
            if !fetched_here || satisfied {
                continue;
            }
        }
        let mut last_error = None;
        let mut done = false;
        for url in repository_urls(project, &requirement.module) {
            match clone_at_best_tag(&url, &target, &requirement) {
                Ok(tag) => {
                    installed.push((requirement.module.clone(), tag));
                    done = true;
                    break;
                }
                Err(error @ FetchError::NoMatchingVersion { .. }) => return Err(error),
                Err(error) => last_error = Some(error),
            }
        }
        if !done {
            return Err(last_error.unwrap_or_else(|| FetchError::NoRepository(requirement.module.clone())));
        }
    }
    Ok(installed)
}

fn clone_at_best_tag(url: &str, target: &Path, requirement: &Requirement) -> Result<String, FetchError> {
    let git = |e: git2::Error| FetchError::Git(e.message().to_string());
    if target.exists() {
        let _ = std::fs::remove_dir_all(target);
    }
    let repository = git2::Repository::clone(url, target).map_err(git)?;
    let tags = repository.tag_names(None).map_err(git)?;
    let mut candidates: Vec<(semver::Version, String)> =
        (0..tags.len()).filter_map(|i| tags.get(i).ok().flatten()).filter_map(|tag| tag_version(tag).map(|v| (v, tag.to_string()))).collect();
    candidates.sort();
    let Some((_, tag)) = candidates.iter().rev().find(|(version, _)| requirement.constraint.matches(version)) else {
        let _ = std::fs::remove_dir_all(target);
        return Err(FetchError::NoMatchingVersion {
            module: requirement.module.clone(),
            constraint: requirement.text.clone(),
            tags: candidates.into_iter().map(|(_, t)| t).collect(),
        });
    };
    let object = repository.revparse_single(&format!("refs/tags/{tag}")).map_err(git)?;
    let commit = object.peel_to_commit().map_err(git)?;
    repository.checkout_tree(commit.as_object(), Some(git2::build::CheckoutBuilder::new().force())).map_err(git)?;
    repository.set_head_detached(commit.id()).map_err(git)?;
    Ok(tag.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_in_inmanta_syntax() {
        let r = parse_requirement("web>=1.0,<2").expect("parses");
        assert_eq!(r.module, "web");
        assert!(r.constraint.matches(&semver::Version::new(1, 5, 0)));
        assert!(!r.constraint.matches(&semver::Version::new(2, 0, 0)));
        let any = parse_requirement("web").expect("parses");
        assert!(any.constraint.matches(&semver::Version::new(9, 0, 0)));
        let compatible = parse_requirement("web ~= 1.2").expect("parses");
        assert!(compatible.constraint.matches(&semver::Version::new(1, 9, 0)));
        assert!(!compatible.constraint.matches(&semver::Version::new(2, 0, 0)));
        assert!(parse_requirement("web >> 1").is_err());
        assert_eq!(tag_version("v1.2"), Some(semver::Version::new(1, 2, 0)));
        assert_eq!(tag_version("release"), None);
    }
}
