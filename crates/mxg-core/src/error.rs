//! Errors. Each variant maps to its own Python exception in the bindings.
use crate::{DType, Shape};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Incompatible shapes or a bad shape argument (Python: ValueError).
    #[error("{op}: {msg}")]
    Shape { op: String, msg: String },
    /// An argument with a bad value (Python: ValueError).
    #[error("{op}: {msg}")]
    Value { op: String, msg: String },
    /// A dtype the op does not accept (Python: TypeError).
    #[error("{op}: {msg}")]
    Type { op: String, msg: String },
    /// An index out of range (Python: IndexError).
    #[error("{op}: {msg}")]
    Index { op: String, msg: String },
    /// The device cannot do this (no GPU, built without CUDA, op not on this device).
    #[error("{0}")]
    Device(String),
    /// Autograd misuse (no graph, graph freed).
    #[error("{0}")]
    Autograd(String),
    /// A file that is not what it should be.
    #[error("{0}")]
    Io(String),
    /// Something not supported by this build or this version.
    #[error("{0}")]
    Unsupported(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn shape(op: &str, msg: impl Into<String>) -> Error {
        Error::Shape {
            op: op.into(),
            msg: msg.into(),
        }
    }
    pub fn value(op: &str, msg: impl Into<String>) -> Error {
        Error::Value {
            op: op.into(),
            msg: msg.into(),
        }
    }
    pub fn dtype(op: &str, msg: impl Into<String>) -> Error {
        Error::Type {
            op: op.into(),
            msg: msg.into(),
        }
    }
    pub fn index(op: &str, msg: impl Into<String>) -> Error {
        Error::Index {
            op: op.into(),
            msg: msg.into(),
        }
    }
    /// The usual "these shapes do not fit" message.
    pub fn shapes(op: &str, shapes: &[&Shape], expected: &str) -> Error {
        let s: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
        Error::shape(
            op,
            format!("incompatible shapes {}: {expected}", s.join(" and ")),
        )
    }
    /// The same error with `what` (a file, a graph node) named in front of its message.
    pub fn within(self, what: &str) -> Error {
        let pre = |m: String| format!("{what}: {m}");
        match self {
            Error::Shape { op, msg } => Error::Shape { op: pre(op), msg },
            Error::Value { op, msg } => Error::Value { op: pre(op), msg },
            Error::Type { op, msg } => Error::Type { op: pre(op), msg },
            Error::Index { op, msg } => Error::Index { op: pre(op), msg },
            Error::Device(m) => Error::Device(pre(m)),
            Error::Autograd(m) => Error::Autograd(pre(m)),
            Error::Io(m) => Error::Io(pre(m)),
            Error::Unsupported(m) => Error::Unsupported(pre(m)),
        }
    }
    pub fn unsupported_dtype(op: &str, dt: DType) -> Error {
        Error::dtype(op, format!("dtype {dt} is not supported"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}
