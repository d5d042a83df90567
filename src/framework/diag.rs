//! Diagnostics: what Terraform shows the user, optionally pointing at an attribute.

use crate::protocol::tfplugin6 as pb;
use std::fmt;

/// A path into a configuration/state value, e.g. `ramp.step` or `target_groups[0].weight`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct AttrPath(pub Vec<PathStep>);

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathStep {
    Attr(String),
    Key(String),
    Index(i64),
}

impl AttrPath {
    pub fn root() -> AttrPath {
        AttrPath(Vec::new())
    }
    /// `AttrPath::attr("weight")`.
    pub fn attr(name: impl Into<String>) -> AttrPath {
        AttrPath(vec![PathStep::Attr(name.into())])
    }
    pub fn then(&self, name: impl Into<String>) -> AttrPath {
        let mut p = self.clone();
        p.0.push(PathStep::Attr(name.into()));
        p
    }
    pub fn index(&self, i: usize) -> AttrPath {
        let mut p = self.clone();
        p.0.push(PathStep::Index(i as i64));
        p
    }
    pub fn key(&self, k: impl Into<String>) -> AttrPath {
        let mut p = self.clone();
        p.0.push(PathStep::Key(k.into()));
        p
    }

    pub fn to_proto(&self) -> pb::AttributePath {
        use pb::attribute_path::{Step, step::Selector};
        pb::AttributePath {
            steps: self
                .0
                .iter()
                .map(|s| Step {
                    selector: Some(match s {
                        PathStep::Attr(a) => Selector::AttributeName(a.clone()),
                        PathStep::Key(k) => Selector::ElementKeyString(k.clone()),
                        PathStep::Index(i) => Selector::ElementKeyInt(*i),
                    }),
                })
                .collect(),
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                PathStep::Attr(a) if i == 0 => write!(f, "{a}")?,
                PathStep::Attr(a) => write!(f, ".{a}")?,
                PathStep::Key(k) => write!(f, "[{k:?}]")?,
                PathStep::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub summary: String,
    pub detail: String,
    pub path: Option<AttrPath>,
}

impl Diagnostic {
    pub fn to_proto(&self) -> pb::Diagnostic {
        pb::Diagnostic {
            severity: match self.severity {
                Severity::Error => pb::diagnostic::Severity::Error as i32,
                Severity::Warning => pb::diagnostic::Severity::Warning as i32,
            },
            summary: self.summary.clone(),
            detail: self.detail.clone(),
            attribute: self.path.as_ref().map(AttrPath::to_proto),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = if self.severity == Severity::Error { "Error" } else { "Warning" };
        write!(f, "{sev}: {}", self.summary)?;
        if let Some(p) = &self.path {
            write!(f, " (at {p})")?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// An ordered collection of diagnostics; requests and responses carry one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Diagnostics {
        Diagnostics::default()
    }
    /// One error, e.g. `return Err(Diagnostics::error("Not found", "..."))`.
    pub fn error(summary: impl Into<String>, detail: impl Into<String>) -> Diagnostics {
        Diagnostics::one(Severity::Error, summary, detail, None)
    }
    /// One error on an attribute.
    pub fn attr_error(path: AttrPath, summary: impl Into<String>, detail: impl Into<String>) -> Diagnostics {
        Diagnostics::one(Severity::Error, summary, detail, Some(path))
    }
    pub fn warning(summary: impl Into<String>, detail: impl Into<String>) -> Diagnostics {
        Diagnostics::one(Severity::Warning, summary, detail, None)
    }
    pub fn attr_warning(path: AttrPath, summary: impl Into<String>, detail: impl Into<String>) -> Diagnostics {
        Diagnostics::one(Severity::Warning, summary, detail, Some(path))
    }
    fn one(severity: Severity, summary: impl Into<String>, detail: impl Into<String>, path: Option<AttrPath>) -> Self {
        let mut d = Diagnostics::new();
        d.push(severity, summary, detail, path);
        d
    }
    /// These diagnostics followed by `other`'s.
    pub fn and(mut self, other: Diagnostics) -> Diagnostics {
        self.extend(other);
        self
    }
    pub fn push_error(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Error, summary, detail, None);
    }
    pub fn push_attr_error(&mut self, path: AttrPath, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Error, summary, detail, Some(path));
    }
    pub fn push_warning(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Warning, summary, detail, None);
    }
    pub fn push_attr_warning(&mut self, path: AttrPath, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Warning, summary, detail, Some(path));
    }
    fn push(
        &mut self,
        severity: Severity,
        summary: impl Into<String>,
        detail: impl Into<String>,
        path: Option<AttrPath>,
    ) {
        self.0.push(Diagnostic { severity, summary: summary.into(), detail: detail.into(), path });
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn to_proto(&self) -> Vec<pb::Diagnostic> {
        self.0.iter().map(Diagnostic::to_proto).collect()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Diagnostics {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Turns any error into an error diagnostic (with its whole cause chain as detail).
pub fn error_diag(summary: impl Into<String>, err: &(dyn std::error::Error + 'static)) -> Diagnostic {
    let mut detail = err.to_string();
    let mut src = err.source();
    while let Some(s) = src {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        src = s.source();
    }
    Diagnostic { severity: Severity::Error, summary: summary.into(), detail, path: None }
}
