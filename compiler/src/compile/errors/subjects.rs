//! What a compile error's message is about, and its text: the definition, instance or
//! subject it names, what was found and expected, the context of a check, the operation,
//! the plugin problem, why an index refused a value, the conflict, the attribute's shape, a
//! step of a chain and what execution waits for. Each `Display` is that value's only text.

use std::fmt;

/// One link of a chain of instances: an instance of `creator`, in its implementation
/// `implementation`, creates an instance of `created`.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainStep {
    pub creator: String,
    /// `None`: the body of a `for` over `creator` instances.
    pub implementation: Option<String>,
    pub created: String,
}

/// What is defined twice.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Definition {
    Entity,
    Typedef,
    Implementation,
    Attribute,
    /// The name an import gives (its module path or its `as` alias).
    Import,
}

/// An instance as messages name it: its entity and where it was constructed.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceRef {
    pub entity: String,
    pub file: String,
    pub line: usize,
}

/// The variable or attribute a message is about.
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    Attribute { name: String, of: InstanceRef },
    Variable(String),
}

/// What a value is, as a type error names it.
#[derive(Clone, Debug, PartialEq)]
pub enum Found {
    Null,
    /// An instance of this entity.
    Instance(String),
    /// A value of this type, shown as the language writes it.
    Value { type_name: &'static str, shown: String },
    /// An entity named as such (an implement statement for an entity the implementation is
    /// not for).
    Entity(String),
}

/// What a type check wanted.
#[derive(Clone, Debug, PartialEq)]
pub enum Expected {
    /// A type or entity by name (`string`, `int[]`, `std::Host`).
    Type(String),
    /// A typedef and the type it is based on.
    Typedef { name: String, base: String },
    /// A `list` or `dict` (by name), which holds plain values only.
    PlainValue(String),
}

/// Where a type or boolean check happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Context {
    Attribute(String),
    Relation(String),
    /// An element of a list checked in the given context.
    ElementOf(Box<Context>),
    PluginArgument { param: String, plugin: String },
    Implementation(String),
    /// `**dict` in a call or constructor.
    DoubleStar,
    Reading(String),
    LookingUpIn(String),
    SettingAttribute,
    IfCondition,
    WhenCondition,
    ConditionalExpression,
    ComprehensionIf,
    NotOperand,
    AndLeft,
    AndRight,
    OrLeft,
    OrRight,
}

/// An operation that cannot be done on the values it got.
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    ForOver(Found),
    Index { base: &'static str, key: &'static str },
    Iterate(&'static str),
    LookupWithoutRelation,
    LookupOneEnded(String),
    LookupOnAttribute(String),
    Unsupported { left: Found, op: &'static str, right: Found },
    CompareNumbersOnly { op: &'static str, left: Found, right: Found },
    MembershipTarget { op: &'static str, right: Found },
    IntegerOverflow,
    DivisionByZero,
    ModuloByZero,
    ExtendSingleRelation(String),
    ExtendNonList(String),
    NamedArgumentsOnly,
    FormatSpec(String),
    FormatCode { code: char, type_name: &'static str },
}

/// Why a plugin call failed.
#[derive(Clone, Debug, PartialEq)]
pub enum PluginProblem {
    TooManyArguments(usize),
    NoParameter(String),
    MissingArgument(String),
    WaitedWithoutReason,
    /// A parameter given both by position and by keyword, or a keyword `self` (Python's
    /// "got multiple values for argument").
    MultipleValues(String),
    /// The plugin's own message.
    Failed(String),
    /// The plugin's own message and a hint shown under it.
    Explained { message: String, hint: String },
}

/// Why an attribute cannot be part of an index.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexReason {
    Multiplicity { lower: u32, upper: Option<u32> },
    OptionalRelation,
    /// A list, of this type.
    List(String),
}

/// Two definitions of an attribute that disagree.
#[derive(Clone, Debug, PartialEq)]
pub enum Conflict {
    /// Inherited from two parents: `attribute` of `declared_in` against the one of `other_in`.
    Between { attribute: String, declared_in: String, shape: AttrShape, other_in: String },
    /// Declared again in a child of `parent`.
    Override { attribute: String, parent: String, inherited: AttrShape, own: AttrShape },
}

/// What an attribute definition is.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrShape {
    /// A value of this type.
    Type(String),
    /// A relation to this entity.
    RelationTo(String),
}

/// What a statement that never ran waits for.
#[derive(Clone, Debug, PartialEq)]
pub enum Waiting {
    NeverSet(Subject),
    NeverExists { entity: String, key: String },
}

impl fmt::Display for Definition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Definition::Entity => "entity",
            Definition::Typedef => "typedef",
            Definition::Implementation => "implementation",
            Definition::Attribute => "attribute",
            Definition::Import => "the import name",
        })
    }
}

impl fmt::Display for InstanceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` (created at {}:{})", self.entity, self.file, self.line)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Attribute { name, of } => write!(f, "attribute `{name}` of {of}"),
            Subject::Variable(name) => write!(f, "variable `{name}`"),
        }
    }
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Null => f.write_str("null"),
            Found::Instance(entity) => write!(f, "an instance of `{entity}`"),
            Found::Value { type_name, shown } => write!(f, "{type_name} {shown}"),
            Found::Entity(name) => f.write_str(name),
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Type(name) => f.write_str(name),
            Expected::Typedef { name, base } => write!(f, "{name} (based on {base})"),
            Expected::PlainValue(name) => write!(f, "a {name} of plain values (strings, numbers, booleans, null, lists and dicts)"),
        }
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Context::Attribute(name) => write!(f, "attribute `{name}`"),
            Context::Relation(name) => write!(f, "relation `{name}`"),
            Context::ElementOf(context) => write!(f, "an element of {context}"),
            Context::PluginArgument { param, plugin } => write!(f, "argument `{param}` of plugin `{plugin}`"),
            Context::Implementation(name) => write!(f, "implementation `{name}`"),
            Context::DoubleStar => f.write_str("`**`"),
            Context::Reading(name) => write!(f, "reading `.{name}`"),
            Context::LookingUpIn(name) => write!(f, "looking up in `.{name}`"),
            Context::SettingAttribute => f.write_str("setting an attribute"),
            Context::IfCondition => f.write_str("the condition of an `if` statement"),
            Context::WhenCondition => f.write_str("the `when` condition of an implement statement"),
            Context::ConditionalExpression => f.write_str("the condition of a conditional expression"),
            Context::ComprehensionIf => f.write_str("the `if` of a list comprehension"),
            Context::NotOperand => f.write_str("the operand of `not`"),
            Context::AndLeft => f.write_str("the left operand of `and`"),
            Context::AndRight => f.write_str("the right operand of `and`"),
            Context::OrLeft => f.write_str("the left operand of `or`"),
            Context::OrRight => f.write_str("the right operand of `or`"),
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::ForOver(found) => write!(f, "a for loop iterates over lists and relations, not over {found}"),
            Operation::Index { base, key } => write!(f, "cannot index a {base} with a {key}"),
            Operation::Iterate(type_name) => write!(f, "cannot iterate over a {type_name}"),
            Operation::LookupWithoutRelation => f.write_str("a lookup with `[name=value]` needs a relation"),
            Operation::LookupOneEnded(name) => {
                write!(f, "a lookup in `.{name}` needs a relation with two ends: it becomes an index lookup on the other end")
            }
            Operation::LookupOnAttribute(name) => write!(f, "a lookup in `.{name}` needs a relation, not an attribute"),
            Operation::Unsupported { left, op, right } => write!(f, "unsupported operation: {left} {op} {right}"),
            Operation::CompareNumbersOnly { op, left, right } => write!(f, "`{op}` compares numbers only, got {left} and {right}"),
            Operation::MembershipTarget { op, right } => write!(f, "the right operand of `{op}` must be a list or a dict, got {right}"),
            Operation::IntegerOverflow => f.write_str("integer overflow"),
            Operation::DivisionByZero => f.write_str("division by zero"),
            Operation::ModuloByZero => f.write_str("modulo by zero"),
            Operation::ExtendSingleRelation(name) => write!(f, "`+=` needs a list relation: `{name}` holds at most one value"),
            Operation::ExtendNonList(name) => write!(f, "`+=` needs a list, and `{name}` is not one"),
            Operation::NamedArgumentsOnly => f.write_str("constructors and lookups take only named arguments"),
            Operation::FormatSpec(spec) => write!(f, "invalid format spec `{spec}`"),
            Operation::FormatCode { code, type_name } => write!(f, "format code `{code}` does not apply to a {type_name}"),
        }
    }
}

impl fmt::Display for PluginProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginProblem::TooManyArguments(count) => write!(f, "takes at most {count} arguments"),
            PluginProblem::NoParameter(name) => write!(f, "has no parameter `{name}`"),
            PluginProblem::MissingArgument(name) => write!(f, "missing argument `{name}`"),
            PluginProblem::WaitedWithoutReason => f.write_str("waited without a reason"),
            PluginProblem::MultipleValues(name) => write!(f, "got multiple values for argument `{name}`"),
            PluginProblem::Failed(message) => f.write_str(message),
            PluginProblem::Explained { message, hint } => write!(f, "{message} ({hint})"),
        }
    }
}

impl fmt::Display for IndexReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexReason::Multiplicity { lower, upper: Some(upper) } => write!(f, "it is a relation of multiplicity [{lower}:{upper}]"),
            IndexReason::Multiplicity { lower, upper: None } => write!(f, "it is a relation of multiplicity [{lower}:]"),
            IndexReason::OptionalRelation => f.write_str("it is an optional relation [0:1]"),
            IndexReason::List(ty) => write!(f, "it is a list (`{ty}`)"),
        }
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::Between { attribute, declared_in, shape, other_in } => {
                write!(f, "`{attribute}` of `{declared_in}`: it is {shape} in `{other_in}`")
            }
            Conflict::Override { attribute, parent, inherited, own } => {
                write!(f, "`{attribute}` of `{parent}`: it is {inherited} there and {own} here")
            }
        }
    }
}

impl fmt::Display for AttrShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrShape::Type(ty) => write!(f, "`{ty}`"),
            AttrShape::RelationTo(entity) => write!(f, "a relation to `{entity}`"),
        }
    }
}

impl fmt::Display for ChainStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.implementation {
            Some(implementation) => write!(f, "`{}` creates `{}` in implementation `{}`", self.creator, self.created, implementation),
            None => write!(f, "a `for` over `{}` creates `{}`", self.creator, self.created),
        }
    }
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waiting::NeverSet(subject) => write!(f, "{subject}, which is never set"),
            Waiting::NeverExists { entity, key } => write!(f, "a `{entity}` with {key}, which never exists"),
        }
    }
}
