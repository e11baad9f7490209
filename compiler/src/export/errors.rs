//! Everything the export can report, and all of its text: duplicate resource ids, resource
//! ids that are not known at compile time, resource entities no module declares, fields a
//! module cannot compute, versions a dependency manager refuses, and dependency cycles. An
//! [`ExportError`] becomes a [`Diagnostic`] in exactly one `From` impl. (The cause of a field
//! or a dependency manager's refusal is the module's own text; the framing is here.)

use crate::diagnostic::Diagnostic;
use crate::error::Details;
use crate::span::Span;

#[derive(Clone, Debug, PartialEq)]
pub enum ExportError {
    /// Two instances with the same resource id: `span` is the later one.
    DuplicateId { id: String, span: Span, first: Span },
    /// The id of a resource (its agent or its id attribute) is not known at compile time.
    UnknownId { resource_type: String, missing: MissingPart, span: Span },
    /// Resources that require each other: `(id, where the instance was created)`, in the
    /// order of the cycle, the first one being where the error is shown.
    Cycle { members: Vec<(String, Span)> },
    /// A field of a resource that its module's function could not compute.
    Field { resource_type: String, field: String, cause: String, span: Span },
    /// A dependency manager refused the version: its name, its message, the resource it is
    /// about and others it names.
    Dependency { manager: String, message: String, span: Span, related: Vec<(Span, String)> },
}

/// The part of a resource id that is not known.
#[derive(Clone, Debug, PartialEq)]
pub enum MissingPart {
    /// The agent, by the declaration's source of it in its debug form (`Path("host.name")`).
    Agent(String),
    /// The id attribute, by name.
    IdAttribute(String),
}

impl std::fmt::Display for MissingPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The declaration's agent source in its debug form (`Path("host.name")`), as this
            // message has always shown it.
            MissingPart::Agent(source) => f.write_str(source),
            MissingPart::IdAttribute(name) => f.write_str(name),
        }
    }
}

impl ExportError {
    /// The primary span.
    pub fn span(&self) -> Span {
        match self {
            ExportError::DuplicateId { span, .. }
            | ExportError::UnknownId { span, .. }
            | ExportError::Field { span, .. }
            | ExportError::Dependency { span, .. } => *span,
            ExportError::Cycle { members } => members.first().map(|(_, span)| *span).unwrap_or_default(),
        }
    }

    pub fn details(&self) -> Details {
        match self {
            ExportError::DuplicateId { id, .. } => Details::new("duplicate", format!("resource `{id}` is defined twice"), "second definition"),
            // Worded as the compile's "never ran" errors: the statement that would give the
            // resource its id is waiting for a value that never comes.
            ExportError::UnknownId { resource_type, missing, .. } => Details::new(
                "not-set",
                format!("this statement never ran: it is waiting for the resource id of this `{resource_type}` ({missing})"),
                "waiting here",
            ),
            ExportError::Cycle { members } => {
                let ids: Vec<&str> = members.iter().map(|(id, _)| id.as_str()).collect();
                Details::new("type", format!("dependency cycle between resources: {}", ids.join(" -> ")), "invalid operation")
            }
            ExportError::Field { resource_type, field, cause, .. } => {
                Details::new("export", format!("failed to get attribute `{field}` for export on `{resource_type}`: {cause}"), "this resource")
            }
            ExportError::Dependency { manager, message, .. } => {
                Details::new("export", format!("{message} (dependency manager `{manager}`)"), "this resource")
            }
        }
    }

    /// The secondary labels: `(span, text)`.
    fn related(&self) -> Vec<(Span, String)> {
        match self {
            ExportError::DuplicateId { first, .. } => vec![(*first, "first resource with this id created here".to_string())],
            ExportError::UnknownId { .. } | ExportError::Field { .. } => Vec::new(),
            ExportError::Dependency { related, .. } => related.clone(),
            ExportError::Cycle { members } => members.iter().skip(1).map(|(id, span)| (*span, format!("{id} is on the cycle"))).collect(),
        }
    }
}

/// The one conversion of an export error into something to render.
impl From<&ExportError> for Diagnostic {
    fn from(error: &ExportError) -> Self {
        error.related().into_iter().fold(Diagnostic::from_details(error.details(), error.span()), |diagnostic, (span, text)| {
            diagnostic.with_secondary(span, text)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_is_shown_at_its_first_member_with_the_others_labelled() {
        let at = |start| Span::new(crate::span::FileId(0), start, start + 1);
        let error = ExportError::Cycle { members: vec![("a".into(), at(0)), ("b".into(), at(5)), ("c".into(), at(9))] };
        let diagnostic = Diagnostic::from(&error);
        assert_eq!(diagnostic.message, "dependency cycle between resources: a -> b -> c");
        assert_eq!(diagnostic.primary.span, at(0));
        let labels: Vec<&str> = diagnostic.secondary.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(labels, ["b is on the cycle", "c is on the cycle"]);
    }
}
