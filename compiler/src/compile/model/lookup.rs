//! Names looked up in the model as Inmanta looks them up: a namespace from the one a name is
//! written in, and entities, types and implementations through the enclosing namespaces.

use super::*;

impl Model {
    /// Resolves the namespace part of a qualified name, as seen from namespace `from`.
    pub fn resolve_namespace(&self, from: NsId, parts: &[ast::Ident], interner: &Interner) -> Result<NsId, CompileError> {
        let name = join(parts, interner);
        let span = parts.first().map(|p| p.span.to(parts[parts.len() - 1].span)).unwrap_or_default();
        let ns = &self.namespaces[from.index()];
        if let Some(id) = ns.imports.get(&name) {
            return Ok(*id);
        }
        if name == ns.name || name == "std" {
            if let Some(id) = self.ns_by_name.get(&name) {
                return Ok(*id);
            }
        }
        Err(CompileError::new(ErrorKind::NotImported(name), span))
    }

    /// The namespaces an unqualified type name is looked up in, as Inmanta does: the
    /// namespace itself, then each enclosing one that is loaded (`a::b::c`, `a::b`, `a`).
    pub fn enclosing(&self, from: NsId) -> impl Iterator<Item = NsId> + '_ {
        let name = self.namespaces[from.index()].name.as_str();
        let prefixes = std::iter::successors(Some(name), |n| n.rsplit_once("::").map(|(parent, _)| parent));
        prefixes.filter_map(move |prefix| if prefix == name { Some(from) } else { self.ns_by_name.get(prefix).copied() })
    }

    /// The namespaces a name is looked up in: the enclosing ones for an unqualified name, the
    /// one its prefix names otherwise.
    fn search_path(&self, from: NsId, name: &QualName, interner: &Interner) -> Result<Vec<NsId>, CompileError> {
        if name.parts.len() == 1 {
            Ok(self.enclosing(from).collect())
        } else {
            Ok(vec![self.resolve_namespace(from, name.namespace(), interner)?])
        }
    }

    pub fn lookup_entity(&self, from: NsId, name: &QualName, interner: &Interner) -> Result<EntityId, CompileError> {
        let last = name.last();
        for ns in self.search_path(from, name, interner)? {
            if let Some(id) = self.namespaces[ns.index()].entities.get(&last.name) {
                return Ok(*id);
            }
        }
        let near = self.near_name(from, name, interner, |ns| ns.entities.keys().copied().collect());
        Err(CompileError::new(ErrorKind::EntityNotFound(join(&name.parts, interner)), name.span()).with_help(near))
    }

    /// A name near `name` for "did you mean": among the names `of` gives for the namespace
    /// `name` points into; for an unqualified name also among those of `std` and of the
    /// imported namespaces (written qualified).
    fn near_name(
        &self,
        from: NsId,
        name: &QualName,
        interner: &Interner,
        of: impl Fn(&Namespace) -> Vec<crate::intern::Symbol>,
    ) -> Option<crate::compile::errors::Help> {
        let wanted = join(&name.parts, interner);
        let mut candidates: Vec<String> = Vec::new();
        if name.parts.len() == 1 {
            let here = &self.namespaces[from.index()];
            candidates.extend(of(here).into_iter().map(|s| interner.resolve(s).to_string()));
            let mut prefixes: Vec<(&String, &NsId)> = here.imports.iter().collect();
            if let Some(std) = self.ns_by_name.get_key_value("std") {
                prefixes.push(std);
            }
            for (prefix, ns) in prefixes {
                candidates.extend(of(&self.namespaces[ns.index()]).into_iter().map(|s| format!("{prefix}::{}", interner.resolve(s))));
            }
        } else if let Ok(ns) = self.resolve_namespace(from, name.namespace(), interner) {
            let prefix = join(name.namespace(), interner);
            candidates.extend(of(&self.namespaces[ns.index()]).into_iter().map(|s| format!("{prefix}::{}", interner.resolve(s))));
        }
        candidates.sort();
        // An unqualified name is compared with candidates by their last part too, so `Hots`
        // finds `std::Host`.
        let last = interner.resolve(name.last().name);
        crate::suggest::closest(&wanted, candidates.iter().map(String::as_str))
            .or_else(|| {
                let by_last: Vec<&str> = candidates.iter().map(|c| c.rsplit("::").next().unwrap_or(c)).collect();
                let found = crate::suggest::closest(last, by_last.iter().copied())?;
                candidates.iter().find(|c| c.rsplit("::").next() == Some(found.as_str())).cloned()
            })
            .map(crate::compile::errors::Help::DidYouMean)
    }

    pub fn lookup_type(&self, from: NsId, name: &QualName, interner: &Interner) -> Result<Type, CompileError> {
        let last = name.last();
        if name.parts.len() == 1 {
            if let Some(ty) = Type::primitive(interner.resolve(last.name)) {
                return Ok(ty);
            }
        }
        for ns in self.search_path(from, name, interner)? {
            let namespace = &self.namespaces[ns.index()];
            if let Some(id) = namespace.typedefs.get(&last.name) {
                return Ok(Type::Typedef(*id));
            }
            if let Some(id) = namespace.entities.get(&last.name) {
                return Ok(Type::Entity(*id));
            }
        }
        let mut near = self.near_name(from, name, interner, |ns| ns.typedefs.keys().chain(ns.entities.keys()).copied().collect());
        if near.is_none() && name.parts.len() == 1 {
            let primitives = ["string", "int", "float", "number", "bool", "dict", "list", "any"];
            near = crate::suggest::closest(interner.resolve(last.name), primitives).map(crate::compile::errors::Help::DidYouMean);
        }
        Err(CompileError::new(ErrorKind::TypeNotFound(join(&name.parts, interner)), name.span()).with_help(near))
    }

    pub fn lookup_implementation(&self, from: NsId, name: &QualName, interner: &Interner) -> Result<ImplId, CompileError> {
        let last = name.last();
        for ns in self.search_path(from, name, interner)? {
            if let Some(id) = self.namespaces[ns.index()].implementations.get(&last.name) {
                return Ok(*id);
            }
        }
        let near = self.near_name(from, name, interner, |ns| ns.implementations.keys().copied().collect());
        Err(CompileError::new(ErrorKind::ImplementationNotFound(join(&name.parts, interner)), name.span()).with_help(near))
    }
}
