//! The declarations of a compile: namespaces with their imports, typedefs, entities with
//! their flattened attributes and relations, indexes, implementations and implement
//! statements. Built from the parsed files; executable code is lowered separately
//! (`lower/`) into the blocks that the declarations point to.

use super::errors::{AttrShape, Cause, CompileError, Conflict, Context, Definition, ErrorKind, Expected, Found, IndexReason, Related};
use super::ir::{BlockId, IrExpr};
use super::value::{Dict, Value};
use crate::ast::{self, AttrDefault, ExprKind, QualName, TopStmt};
use crate::intern::{Interner, Symbol};
use crate::span::{FileId, Span};
use rustc_hash::FxHashMap;
use std::rc::Rc;

mod constants;
mod lookup;

pub use constants::{constant, python_pattern};

macro_rules! id_type {
    ($name:ident) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);
        impl $name {
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

id_type!(NsId);
id_type!(EntityId);
id_type!(TypedefId);
id_type!(ImplId);
id_type!(ImplementId);
id_type!(IndexId);

fn next_id(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// The type of an attribute or a typedef's base.
#[derive(Clone, Debug, PartialEq)]
pub enum Type {
    Any,
    String,
    Int,
    Float,
    Number,
    Bool,
    Dict,
    List(Box<Type>),
    Nullable(Box<Type>),
    Typedef(TypedefId),
    Entity(EntityId),
}

impl Type {
    pub fn primitive(name: &str) -> Option<Type> {
        Some(match name {
            "any" => Type::Any,
            "string" => Type::String,
            "int" => Type::Int,
            "float" => Type::Float,
            "number" => Type::Number,
            "bool" => Type::Bool,
            "dict" => Type::Dict,
            "list" => Type::List(Box::new(Type::Any)),
            _ => return None,
        })
    }

    pub fn is_list(&self) -> bool {
        matches!(self, Type::List(_))
    }

    pub fn is_nullable(&self) -> bool {
        matches!(self, Type::Nullable(_))
    }
}

#[derive(Debug)]
pub struct Namespace {
    pub name: String,
    pub module: String,
    pub file: FileId,
    pub file_index: usize,
    /// Usable namespace prefixes: `a::b` for `import a::b`, `x` for `import a::b as x`.
    pub imports: FxHashMap<String, NsId>,
    pub entities: FxHashMap<Symbol, EntityId>,
    pub typedefs: FxHashMap<Symbol, TypedefId>,
    pub implementations: FxHashMap<Symbol, ImplId>,
    /// Top-level variables, by name, to their slot in the namespace scope.
    pub globals: FxHashMap<Symbol, u32>,
    pub global_names: Vec<(Symbol, Span)>,
    pub top_block: Option<BlockId>,
}

#[derive(Debug)]
pub struct TypedefDef {
    pub name: String,
    pub ns: NsId,
    pub base: Type,
    pub constraint: TypedefConstraint,
    pub span: Span,
}

#[derive(Debug)]
pub enum TypedefConstraint {
    Regex(crate::pyregex::PyRegex),
    /// Lowered later; evaluated with `self` bound to the value.
    Expr(Option<IrExpr>),
    None,
}

#[derive(Clone, Debug)]
pub enum AttrKind {
    Value { ty: Type, default: Option<Value>, undef: bool },
    Relation { target: EntityId, lower: u32, upper: Option<u32>, inverse: Option<Symbol> },
}

#[derive(Clone, Debug)]
pub struct AttrDef {
    pub name: Symbol,
    pub kind: AttrKind,
    pub declared_in: EntityId,
    pub span: Span,
}

impl AttrDef {
    pub fn is_relation(&self) -> bool {
        matches!(self.kind, AttrKind::Relation { .. })
    }

    /// A list slot: a relation with upper bound above 1, or a list attribute.
    pub fn is_multi(&self) -> bool {
        match &self.kind {
            AttrKind::Relation { upper, .. } => *upper != Some(1),
            AttrKind::Value { ty, .. } => ty.is_list() || matches!(ty, Type::Nullable(inner) if inner.is_list()),
        }
    }

    /// A relation `[0:1]`: reads of it freeze to "no value" instead of waiting forever.
    pub fn is_optional_single(&self) -> bool {
        matches!(self.kind, AttrKind::Relation { lower: 0, upper: Some(1), .. })
    }
}

#[derive(Debug)]
pub struct EntityDef {
    pub name: Symbol,
    pub full_name: String,
    pub ns: NsId,
    pub span: Span,
    pub doc: Option<String>,
    pub parents: Vec<EntityId>,
    /// Every ancestor, nearest first, without duplicates (not including the entity itself).
    pub ancestors: Vec<EntityId>,
    pub attrs: Vec<AttrDef>,
    pub attr_index: FxHashMap<Symbol, u32>,
    /// Own `implement` statements.
    pub implements: Vec<ImplementId>,
    /// The `implement` statements that apply to instances: own ones, and the parents' ones
    /// when an own one says `using parents`.
    pub effective_implements: Vec<ImplementId>,
    /// Indexes that apply to instances of this entity (its own and its ancestors').
    pub indexes: Vec<IndexId>,
}

impl EntityDef {
    /// The error for a use of `attribute`, which this entity lacks, with the nearest of its
    /// attributes and relations as a suggestion.
    pub fn attribute_not_found(&self, attribute: &str, span: crate::span::Span, interner: &Interner) -> CompileError {
        let near = crate::suggest::closest(attribute, self.attrs.iter().map(|a| interner.resolve(a.name)));
        CompileError::new(ErrorKind::AttributeNotFound { entity: self.full_name.clone(), attribute: attribute.to_string() }, span)
            .with_help(near.map(super::errors::Help::DidYouMean))
    }

    pub fn attr(&self, name: Symbol) -> Option<(u32, &AttrDef)> {
        let index = *self.attr_index.get(&name)?;
        Some((index, &self.attrs[index as usize]))
    }
}

#[derive(Debug)]
pub struct ImplDef {
    pub name: String,
    pub entity: EntityId,
    pub ns: NsId,
    pub span: Span,
    pub body: Option<BlockId>,
    /// Where the AST lives: (file index, statement index).
    pub source: (usize, usize),
}

#[derive(Debug)]
pub struct ImplementDef {
    pub entity: EntityId,
    pub implementations: Vec<ImplId>,
    pub parents: bool,
    pub when: Option<IrExpr>,
    pub ns: NsId,
    pub span: Span,
    pub source: (usize, usize),
}

#[derive(Debug)]
pub struct IndexDef {
    pub entity: EntityId,
    pub attrs: Vec<Symbol>,
    pub span: Span,
}

#[derive(Debug, Default)]
pub struct Model {
    pub namespaces: Vec<Namespace>,
    pub ns_by_name: FxHashMap<String, NsId>,
    pub entities: Vec<EntityDef>,
    pub typedefs: Vec<TypedefDef>,
    pub implementations: Vec<ImplDef>,
    pub implements: Vec<ImplementDef>,
    pub indexes: Vec<IndexDef>,
    pub std_entity: Option<EntityId>,
    pub none_impl: Option<ImplId>,
}

impl Model {
    pub fn entity(&self, id: EntityId) -> &EntityDef {
        &self.entities[id.index()]
    }

    pub fn is_subtype(&self, entity: EntityId, of: EntityId) -> bool {
        entity == of || self.entities[entity.index()].ancestors.contains(&of)
    }

    pub fn type_name(&self, ty: &Type) -> String {
        match ty {
            Type::Any => "any".into(),
            Type::String => "string".into(),
            Type::Int => "int".into(),
            Type::Float => "float".into(),
            Type::Number => "number".into(),
            Type::Bool => "bool".into(),
            Type::Dict => "dict".into(),
            Type::List(inner) if **inner == Type::Any => "list".into(),
            Type::List(inner) => format!("{}[]", self.type_name(inner)),
            Type::Nullable(inner) => format!("{}?", self.type_name(inner)),
            Type::Typedef(id) => self.typedefs[id.index()].name.clone(),
            Type::Entity(id) => self.entities[id.index()].full_name.clone(),
        }
    }
}

pub fn join(parts: &[ast::Ident], interner: &Interner) -> String {
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str("::");
        }
        out.push_str(interner.resolve(part.name));
    }
    out
}

/// A parsed namespace handed to the builder.
pub struct NamespaceInput<'a> {
    pub name: &'a str,
    pub module: &'a str,
    pub file: FileId,
    pub file_index: usize,
    pub ast: &'a ast::Module,
}

/// Builds the declarations. Errors are collected; the model is as complete as it can be.
pub fn build(inputs: &[NamespaceInput<'_>], interner: &mut Interner, errors: &mut Vec<CompileError>) -> Model {
    let mut model = Model::default();
    for input in inputs {
        let id = NsId(next_id(model.namespaces.len()));
        model.ns_by_name.insert(input.name.to_string(), id);
        model.namespaces.push(Namespace {
            name: input.name.to_string(),
            module: input.module.to_string(),
            file: input.file,
            file_index: input.file_index,
            imports: FxHashMap::default(),
            entities: FxHashMap::default(),
            typedefs: FxHashMap::default(),
            implementations: FxHashMap::default(),
            globals: FxHashMap::default(),
            global_names: Vec::new(),
            top_block: None,
        });
    }
    // Imports.
    for (index, input) in inputs.iter().enumerate() {
        // Two imports of one file that give the same name are an error, as in Inmanta 14
        // ("Two import statements have the same name"), even when they import the same module.
        let mut seen: FxHashMap<String, Span> = FxHashMap::default();
        for statement in &input.ast.statements {
            if let TopStmt::Import(import) = statement {
                let full = join(&import.module.parts, interner);
                if let Some(target) = model.ns_by_name.get(&full).copied() {
                    let key = match import.alias {
                        Some(alias) => interner.resolve(alias.name).to_string(),
                        None => full,
                    };
                    if let Some(first) = seen.get(&key) {
                        errors.push(
                            CompileError::new(ErrorKind::Duplicate { what: Definition::Import, name: key.clone() }, import.span)
                                .with_related(*first, Related::FirstDefinedHere),
                        );
                        continue;
                    }
                    seen.insert(key.clone(), import.span);
                    model.namespaces[index].imports.insert(key, target);
                }
            }
        }
    }
    // Names of entities, typedefs and implementations.
    let mut entity_sources = Vec::new();
    let mut typedef_sources = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        let ns = NsId(index as u32);
        for (position, statement) in input.ast.statements.iter().enumerate() {
            match statement {
                TopStmt::Entity(entity) => {
                    let full_name = qualified(input.name, interner.resolve(entity.name.name));
                    if let Some(previous) = model.namespaces[index].entities.get(&entity.name.name) {
                        errors.push(
                            CompileError::new(ErrorKind::Duplicate { what: Definition::Entity, name: full_name }, entity.name.span)
                                .with_related(model.entities[previous.index()].span, Related::FirstDefinedHere),
                        );
                        continue;
                    }
                    let id = EntityId(next_id(model.entities.len()));
                    model.namespaces[index].entities.insert(entity.name.name, id);
                    if full_name == "std::Entity" {
                        model.std_entity = Some(id);
                    }
                    model.entities.push(EntityDef {
                        name: entity.name.name,
                        full_name,
                        ns,
                        span: entity.name.span,
                        doc: entity.doc.clone(),
                        parents: Vec::new(),
                        ancestors: Vec::new(),
                        attrs: Vec::new(),
                        attr_index: FxHashMap::default(),
                        implements: Vec::new(),
                        effective_implements: Vec::new(),
                        indexes: Vec::new(),
                    });
                    entity_sources.push((id, index, position));
                }
                TopStmt::Typedef(typedef) => {
                    let full_name = qualified(input.name, interner.resolve(typedef.name.name));
                    if let Some(previous) = model.namespaces[index].typedefs.get(&typedef.name.name) {
                        errors.push(
                            CompileError::new(ErrorKind::Duplicate { what: Definition::Typedef, name: full_name }, typedef.name.span)
                                .with_related(model.typedefs[previous.index()].span, Related::FirstDefinedHere),
                        );
                        continue;
                    }
                    let id = TypedefId(next_id(model.typedefs.len()));
                    model.namespaces[index].typedefs.insert(typedef.name.name, id);
                    model.typedefs.push(TypedefDef {
                        name: full_name,
                        ns,
                        base: Type::Any,
                        constraint: TypedefConstraint::None,
                        span: typedef.name.span,
                    });
                    typedef_sources.push((id, index, position));
                }
                TopStmt::Implementation(implementation) => {
                    let full_name = qualified(input.name, interner.resolve(implementation.name.name));
                    if let Some(previous) = model.namespaces[index].implementations.get(&implementation.name.name) {
                        errors.push(
                            CompileError::new(ErrorKind::Duplicate { what: Definition::Implementation, name: full_name }, implementation.name.span)
                                .with_related(model.implementations[previous.index()].span, Related::FirstDefinedHere),
                        );
                        continue;
                    }
                    let id = ImplId(next_id(model.implementations.len()));
                    model.namespaces[index].implementations.insert(implementation.name.name, id);
                    if full_name == "std::none" {
                        model.none_impl = Some(id);
                    }
                    model.implementations.push(ImplDef {
                        name: full_name,
                        entity: EntityId(0),
                        ns,
                        span: implementation.name.span,
                        body: None,
                        source: (index, position),
                    });
                }
                _ => {}
            }
        }
    }
    // Typedef bases and regex constraints (expression constraints are lowered later).
    for &(id, index, position) in &typedef_sources {
        let TopStmt::Typedef(typedef) = &inputs[index].ast.statements[position] else { continue };
        let ns = NsId(index as u32);
        match model.lookup_type(ns, &typedef.base, interner) {
            Ok(ty @ (Type::String | Type::Int | Type::Float | Type::Number | Type::Bool | Type::Dict | Type::Any | Type::List(_))) => {
                model.typedefs[id.index()].base = ty;
            }
            // A typedef of a typedef keeps both constraints: the value must satisfy the base
            // typedef first.
            Ok(Type::Typedef(base)) if base != id => model.typedefs[id.index()].base = Type::Typedef(base),
            Ok(_) => errors.push(CompileError::new(
                ErrorKind::InvalidTypedefBase(join(&typedef.base.parts, interner)),
                typedef.base.span(),
            )),
            Err(error) => errors.push(error),
        }
        model.typedefs[id.index()].constraint = match &typedef.constraint {
            ast::Constraint::Regex { pattern, .. } => match crate::pyregex::PyRegex::new(&python_pattern(pattern)) {
                Ok(regex) => TypedefConstraint::Regex(regex),
                // The parser reported it (`parser::check_regex`).
                Err(_) => TypedefConstraint::None,
            },
            ast::Constraint::Expr(_) => TypedefConstraint::Expr(None),
        };
    }
    // A chain of typedefs based on each other must end in a primitive type.
    for &(id, _, _) in &typedef_sources {
        let mut current = id;
        let mut steps = 0;
        while let Type::Typedef(next) = model.typedefs[current.index()].base {
            steps += 1;
            if next == id || steps > model.typedefs.len() {
                errors.push(CompileError::new(ErrorKind::TypedefCycle(model.typedefs[id.index()].name.clone()), model.typedefs[id.index()].span));
                model.typedefs[id.index()].base = Type::Any;
                break;
            }
            current = next;
        }
    }
    // Parents.
    for &(id, index, position) in &entity_sources {
        let TopStmt::Entity(entity) = &inputs[index].ast.statements[position] else { continue };
        let ns = NsId(index as u32);
        let mut parents: Vec<EntityId> = Vec::new();
        let mut listed_at: Vec<Span> = Vec::new();
        for parent in &entity.parents {
            match model.lookup_entity(ns, parent, interner) {
                Ok(parent_id) if parent_id == id => errors.push(CompileError::new(
                    ErrorKind::InheritanceCycle(model.entities[id.index()].full_name.clone()),
                    parent.span(),
                )),
                Ok(parent_id) => match parents.iter().position(|known| *known == parent_id) {
                    Some(first) => errors.push(
                        CompileError::new(
                            ErrorKind::DuplicateParent {
                                entity: model.entities[id.index()].full_name.clone(),
                                parent: model.entities[parent_id.index()].full_name.clone(),
                            },
                            parent.span(),
                        )
                        .with_related(listed_at[first], Related::FirstDefinedHere),
                    ),
                    None => {
                        parents.push(parent_id);
                        listed_at.push(parent.span());
                    }
                },
                Err(error) => errors.push(error),
            }
        }
        if parents.is_empty() {
            if let Some(root) = model.std_entity.filter(|root| *root != id) {
                parents.push(root);
            }
        }
        model.entities[id.index()].parents = parents;
    }
    // Ancestors, with cycle detection.
    let order = topological_order(&mut model, errors);
    // Own attributes.
    let mut own: Vec<Vec<AttrDef>> = vec![Vec::new(); model.entities.len()];
    for &(id, index, position) in &entity_sources {
        let TopStmt::Entity(entity) = &inputs[index].ast.statements[position] else { continue };
        let ns = NsId(index as u32);
        for attribute in &entity.attributes {
            if let Some(previous) = own[id.index()].iter().find(|a| a.name == attribute.name.name) {
                errors.push(
                    CompileError::new(
                        ErrorKind::Duplicate { what: Definition::Attribute, name: interner.resolve(attribute.name.name).to_string() },
                        attribute.name.span,
                    )
                    .with_related(previous.span, Related::FirstDefinedHere),
                );
                continue;
            }
            let base = match model.lookup_type(ns, &attribute.ty.base, interner) {
                Ok(Type::Entity(_)) => {
                    errors.push(CompileError::new(
                        ErrorKind::InvalidTypedefBase(join(&attribute.ty.base.parts, interner)),
                        attribute.ty.base.span(),
                    ));
                    Type::Any
                }
                Ok(ty) => ty,
                Err(error) => {
                    errors.push(error);
                    Type::Any
                }
            };
            let mut ty = if attribute.ty.list { Type::List(Box::new(base)) } else { base };
            if attribute.ty.nullable {
                ty = Type::Nullable(Box::new(ty));
            }
            let (default, undef) = match &attribute.default {
                AttrDefault::None => (None, false),
                AttrDefault::Undef(_) => (None, true),
                AttrDefault::Value(expr) => match constant(expr) {
                    Some(value) => (Some(value), false),
                    None => {
                        errors.push(CompileError::new(ErrorKind::NotConstant, expr.span));
                        (None, false)
                    }
                },
            };
            own[id.index()].push(AttrDef {
                name: attribute.name.name,
                kind: AttrKind::Value { ty, default, undef },
                declared_in: id,
                span: attribute.name.span,
            });
        }
    }
    // Relations.
    for (index, input) in inputs.iter().enumerate() {
        let ns = NsId(index as u32);
        for statement in &input.ast.statements {
            let TopStmt::Relation(relation) = statement else { continue };
            let left = model.lookup_entity(ns, &relation.left.entity, interner);
            let right = model.lookup_entity(ns, &relation.right_entity, interner);
            let (left, right) = match (left, right) {
                (Ok(l), Ok(r)) => (l, r),
                (l, r) => {
                    errors.extend(l.err());
                    errors.extend(r.err());
                    continue;
                }
            };
            let mut add = |owner: EntityId, name: ast::Ident, target: EntityId, m: ast::Multiplicity, inverse: Option<Symbol>| {
                if let Some(previous) = own[owner.index()].iter().find(|a| a.name == name.name) {
                    errors.push(
                        CompileError::new(
                            ErrorKind::Duplicate { what: Definition::Attribute, name: interner.resolve(name.name).to_string() },
                            name.span,
                        )
                        .with_related(previous.span, Related::FirstDefinedHere),
                    );
                    return;
                }
                own[owner.index()].push(AttrDef {
                    name: name.name,
                    kind: AttrKind::Relation { target, lower: m.lower, upper: m.upper, inverse },
                    declared_in: owner,
                    span: name.span,
                });
            };
            let left_end = &relation.left;
            match &relation.right {
                // A reflexive relation (`A.peer -- A.peer`) is one relation, its own inverse.
                Some((right_name, _)) if left == right && right_name.name == left_end.name.name => {
                    add(left, left_end.name, right, left_end.multiplicity, Some(left_end.name.name));
                }
                Some((right_name, right_mult)) => {
                    add(left, left_end.name, right, left_end.multiplicity, Some(right_name.name));
                    add(right, *right_name, left, *right_mult, Some(left_end.name.name));
                }
                None => add(left, left_end.name, right, left_end.multiplicity, None),
            }
        }
    }
    // Flatten along inheritance: parents first (left-most wins), own declarations override.
    // Defaults are merged as Inmanta does: the right-most parent first, then the ones to its
    // left, then the entity's own (`= undef` removes an inherited default).
    let mut defaults_of: Vec<FxHashMap<Symbol, Option<Value>>> = vec![FxHashMap::default(); model.entities.len()];
    for &id in &order {
        let mut attrs: Vec<AttrDef> = Vec::new();
        let mut attr_index: FxHashMap<Symbol, u32> = FxHashMap::default();
        let parents = model.entities[id.index()].parents.clone();
        for parent in &parents {
            for attr in &model.entities[parent.index()].attrs {
                match attr_index.get(&attr.name) {
                    None => {
                        attr_index.insert(attr.name, attrs.len() as u32);
                        attrs.push(attr.clone());
                    }
                    Some(&position) => {
                        let existing = &attrs[position as usize];
                        let same = existing.declared_in == attr.declared_in;
                        if !same && !compatible(existing, attr) {
                            errors.push(
                                CompileError::new(
                                    ErrorKind::IncompatibleAttribute {
                                        entity: model.entities[id.index()].full_name.clone(),
                                        attribute: interner.resolve(attr.name).to_string(),
                                        conflict: Conflict::Between {
                                            attribute: interner.resolve(attr.name).to_string(),
                                            declared_in: model.entities[attr.declared_in.index()].full_name.clone(),
                                            shape: attr_shape(&model, existing),
                                            other_in: model.entities[existing.declared_in.index()].full_name.clone(),
                                        },
                                    },
                                    model.entities[id.index()].span,
                                )
                                .with_related(existing.span, Related::OneDefinition)
                                .with_related(attr.span, Related::OtherDefinition),
                            );
                        }
                    }
                }
            }
        }
        let mut defaults: FxHashMap<Symbol, Option<Value>> = FxHashMap::default();
        for parent in parents.iter().rev() {
            for (name, value) in &defaults_of[parent.index()] {
                defaults.insert(*name, value.clone());
            }
        }
        for attr in std::mem::take(&mut own[id.index()]) {
            if let AttrKind::Value { default, undef, .. } = &attr.kind {
                if default.is_some() || *undef {
                    defaults.insert(attr.name, default.clone());
                }
            }
            match attr_index.get(&attr.name) {
                Some(&position) => {
                    let inherited = &attrs[position as usize];
                    // A plain attribute may take the name of an inherited relation (as Inmanta
                    // allows, e.g. `string requires`): it replaces the relation here.
                    let replaces_relation = !attr.is_relation() && inherited.is_relation();
                    if !replaces_relation && (attr.is_relation() || inherited.is_relation() || !compatible(inherited, &attr)) {
                        let parent = model.entities[inherited.declared_in.index()].full_name.clone();
                        let kind = if attr.is_relation() {
                            ErrorKind::RelationRedefined {
                                entity: model.entities[id.index()].full_name.clone(),
                                relation: interner.resolve(attr.name).to_string(),
                                parent,
                            }
                        } else {
                            ErrorKind::IncompatibleAttribute {
                                entity: model.entities[id.index()].full_name.clone(),
                                attribute: interner.resolve(attr.name).to_string(),
                                conflict: Conflict::Override {
                                    attribute: interner.resolve(attr.name).to_string(),
                                    parent,
                                    inherited: attr_shape(&model, inherited),
                                    own: attr_shape(&model, &attr),
                                },
                            }
                        };
                        errors.push(CompileError::new(kind, attr.span).with_related(inherited.span, Related::InheritedDefinition));
                        continue;
                    }
                    attrs[position as usize] = attr;
                }
                None => {
                    attr_index.insert(attr.name, attrs.len() as u32);
                    attrs.push(attr);
                }
            }
        }
        for attr in &mut attrs {
            if let AttrKind::Value { default, .. } = &mut attr.kind {
                *default = defaults.get(&attr.name).cloned().flatten();
            }
        }
        defaults_of[id.index()] = defaults;
        let entity = &mut model.entities[id.index()];
        entity.attrs = attrs;
        entity.attr_index = attr_index;
    }
    // Indexes.
    for (index, input) in inputs.iter().enumerate() {
        let ns = NsId(index as u32);
        for statement in &input.ast.statements {
            let TopStmt::Index(index_stmt) = statement else { continue };
            let entity = match model.lookup_entity(ns, &index_stmt.entity, interner) {
                Ok(entity) => entity,
                Err(error) => {
                    errors.push(error);
                    continue;
                }
            };
            // Inmanta's grammar needs at least one name (`index A()` is a syntax error there).
            if index_stmt.attributes.is_empty() {
                errors.push(CompileError::new(ErrorKind::EmptyIndex, index_stmt.span));
                continue;
            }
            let mut ok = true;
            for attr in &index_stmt.attributes {
                let def = model.entities[entity.index()].attr(attr.name).map(|(_, a)| a.clone());
                match def {
                    None => {
                        ok = false;
                        errors.push(model.entities[entity.index()].attribute_not_found(interner.resolve(attr.name), attr.span, interner));
                    }
                    Some(def) => {
                        // Inmanta: an index holds neither optional relations nor list
                        // attributes; an optional attribute is fine (`null` is a key value).
                        let reason = match &def.kind {
                            AttrKind::Relation { lower, upper, .. } if *upper != Some(1) => {
                                Some(IndexReason::Multiplicity { lower: *lower, upper: *upper })
                            }
                            AttrKind::Relation { lower: 0, .. } => Some(IndexReason::OptionalRelation),
                            AttrKind::Value { ty, .. } if ty.is_list() || matches!(ty, Type::Nullable(inner) if inner.is_list()) => {
                                Some(IndexReason::List(model.type_name(ty)))
                            }
                            _ => None,
                        };
                        if let Some(reason) = reason {
                            ok = false;
                            errors.push(
                                CompileError::new(
                                    ErrorKind::InvalidIndexAttribute {
                                        entity: model.entities[entity.index()].full_name.clone(),
                                        attribute: interner.resolve(attr.name).to_string(),
                                        reason,
                                    },
                                    attr.span,
                                )
                                .with_related(def.span, Related::DeclaredHere),
                            );
                        }
                    }
                }
            }
            if !ok {
                continue;
            }
            let id = IndexId(next_id(model.indexes.len()));
            model.indexes.push(IndexDef {
                entity,
                attrs: index_stmt.attributes.iter().map(|a| a.name).collect(),
                span: index_stmt.span,
            });
            for child in 0..model.entities.len() {
                if model.is_subtype(EntityId(child as u32), entity) {
                    model.entities[child].indexes.push(id);
                }
            }
        }
    }
    // Implementations' entities and implement statements.
    for index in 0..model.implementations.len() {
        let (file_index, position) = model.implementations[index].source;
        let TopStmt::Implementation(ast_impl) = &inputs[file_index].ast.statements[position] else { continue };
        match model.lookup_entity(NsId(file_index as u32), &ast_impl.entity, interner) {
            Ok(entity) => model.implementations[index].entity = entity,
            Err(error) => errors.push(error),
        }
    }
    for (index, input) in inputs.iter().enumerate() {
        let ns = NsId(index as u32);
        for (position, statement) in input.ast.statements.iter().enumerate() {
            let TopStmt::Implement(implement) = statement else { continue };
            let entity = match model.lookup_entity(ns, &implement.entity, interner) {
                Ok(entity) => entity,
                Err(error) => {
                    errors.push(error);
                    continue;
                }
            };
            let mut implementations = Vec::new();
            let mut parents = false;
            for item in &implement.using {
                match item {
                    ast::ImplRef::Parents(_) => parents = true,
                    ast::ImplRef::Named(name) => match model.lookup_implementation(ns, name, interner) {
                        Ok(id) => {
                            let target = model.implementations[id.index()].entity;
                            if !model.is_subtype(entity, target) {
                                errors.push(CompileError::new(
                                    ErrorKind::TypeMismatch {
                                        expected: Expected::Type(model.entities[target.index()].full_name.clone()),
                                        found: Found::Entity(model.entities[entity.index()].full_name.clone()),
                                        context: Context::Implementation(model.implementations[id.index()].name.clone()),
                                    },
                                    name.span(),
                                ));
                            } else {
                                implementations.push(id);
                            }
                        }
                        Err(error) => errors.push(error),
                    },
                }
            }
            if let (Some(when), Some(ast::ImplRef::Parents(parents_span))) =
                (&implement.when, implement.using.iter().find(|i| matches!(i, ast::ImplRef::Parents(_))))
            {
                errors.push(
                    CompileError::new(ErrorKind::ConditionalParents, *parents_span).with_related(when.span, Related::ConditionGivenHere),
                );
            }
            let id = ImplementId(next_id(model.implements.len()));
            model.implements.push(ImplementDef {
                entity,
                implementations,
                parents,
                when: None,
                ns,
                span: implement.span,
                source: (index, position),
            });
            model.entities[entity.index()].implements.push(id);
        }
    }
    // The implements that apply to an instance: the entity's own, plus, when one of them says
    // `using parents`, those that apply to its parents (Inmanta's `get_implements`).
    for &id in &order {
        let mut all = model.entities[id.index()].implements.clone();
        if all.iter().any(|i| model.implements[i.index()].parents) {
            for parent in model.entities[id.index()].parents.clone() {
                for implement in model.entities[parent.index()].effective_implements.clone() {
                    if !all.contains(&implement) {
                        all.push(implement);
                    }
                }
            }
        }
        model.entities[id.index()].effective_implements = all;
    }
    model
}

/// Two definitions of an attribute agree: both plain attributes of the same type.
fn compatible(a: &AttrDef, b: &AttrDef) -> bool {
    match (&a.kind, &b.kind) {
        (AttrKind::Value { ty: x, .. }, AttrKind::Value { ty: y, .. }) => x == y,
        _ => false,
    }
}

/// What an attribute definition is, for a message about a conflict.
fn attr_shape(model: &Model, attr: &AttrDef) -> AttrShape {
    match &attr.kind {
        AttrKind::Value { ty, .. } => AttrShape::Type(model.type_name(ty)),
        AttrKind::Relation { target, .. } => AttrShape::RelationTo(model.entities[target.index()].full_name.clone()),
    }
}

fn qualified(namespace: &str, name: &str) -> String {
    if namespace == "__config__" {
        format!("__config__::{name}")
    } else {
        format!("{namespace}::{name}")
    }
}

/// Orders entities so parents come before children and fills `ancestors`; reports cycles.
fn topological_order(model: &mut Model, errors: &mut Vec<CompileError>) -> Vec<EntityId> {
    let count = model.entities.len();
    let mut state = vec![0u8; count]; // 0 new, 1 visiting, 2 done
    let mut order = Vec::with_capacity(count);
    let mut path: Vec<usize> = Vec::new();
    fn visit(id: usize, model: &mut Model, state: &mut [u8], order: &mut Vec<EntityId>, path: &mut Vec<usize>, errors: &mut Vec<CompileError>) {
        match state[id] {
            2 => return,
            1 => {
                let start = path.iter().position(|p| *p == id).unwrap_or(0);
                let mut names: Vec<String> = path[start..].iter().map(|p| model.entities[*p].full_name.clone()).collect();
                names.push(model.entities[id].full_name.clone());
                let entity = &model.entities[id];
                let mut error = CompileError::new(ErrorKind::InheritanceCycle(entity.full_name.clone()), entity.span)
                    .with_cause(Cause::InheritanceCycle(names));
                for other in &path[start + 1..] {
                    error = error.with_related(model.entities[*other].span, Related::PartOfCycle);
                }
                errors.push(error);
                // Break the cycle so the rest of the compile can go on.
                model.entities[id].parents.clear();
                return;
            }
            _ => {}
        }
        state[id] = 1;
        path.push(id);
        for parent in model.entities[id].parents.clone() {
            visit(parent.index(), model, state, order, path, errors);
        }
        path.pop();
        state[id] = 2;
        let mut ancestors = Vec::new();
        for parent in model.entities[id].parents.clone() {
            if !ancestors.contains(&parent) {
                ancestors.push(parent);
            }
            for grand in model.entities[parent.index()].ancestors.clone() {
                if !ancestors.contains(&grand) {
                    ancestors.push(grand);
                }
            }
        }
        ancestors.retain(|a| a.index() != id);
        model.entities[id].ancestors = ancestors;
        order.push(EntityId(id as u32));
    }
    for id in 0..count {
        visit(id, model, &mut state, &mut order, &mut path, errors);
    }
    order
}
