//! Op attributes: typed values from Python keyword arguments, or MXNet's strings from symbol JSON
//! (`"(1, 1)"`, `"True"`, `"None"`), read through the same accessors.
use crate::{DType, Error, Result};

#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attrs(pub Vec<(String, Attr)>);

fn parse_list(s: &str) -> Option<Vec<&str>> {
    let t = s.trim();
    let inner = t
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .or_else(|| t.strip_prefix('[').and_then(|x| x.strip_suffix(']')))?;
    Some(
        inner
            .split(',')
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .collect(),
    )
}

fn is_none(s: &str) -> bool {
    matches!(s.trim(), "None" | "none" | "null" | "")
}

impl Attrs {
    pub fn new() -> Attrs {
        Attrs(Vec::new())
    }

    pub fn with(mut self, key: &str, v: Attr) -> Attrs {
        self.set(key, v);
        self
    }

    pub fn set(&mut self, key: &str, v: Attr) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = v,
            None => self.0.push((key.to_string(), v)),
        }
    }

    /// The value, with `None` (absent or explicitly none) folded together.
    pub fn get(&self, key: &str) -> Option<&Attr> {
        match self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v) {
            None | Some(Attr::None) => None,
            Some(Attr::Str(s)) if is_none(s) => None,
            Some(v) => Some(v),
        }
    }

    fn bad(op: &str, key: &str, v: &Attr, want: &str) -> Error {
        Error::value(op, format!("argument {key}={v:?} is not {want}"))
    }

    pub fn opt_int(&self, op: &str, key: &str) -> Result<Option<i64>> {
        Ok(match self.get(key) {
            None => None,
            Some(Attr::Int(i)) => Some(*i),
            Some(Attr::Bool(b)) => Some(*b as i64),
            Some(Attr::Float(f)) if f.fract() == 0.0 => Some(*f as i64),
            Some(Attr::Ints(v)) if v.len() == 1 => Some(v[0]),
            Some(v @ Attr::Str(s)) => Some(
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| Self::bad(op, key, v, "an integer"))?,
            ),
            Some(v) => return Err(Self::bad(op, key, v, "an integer")),
        })
    }

    pub fn int(&self, op: &str, key: &str, default: i64) -> Result<i64> {
        Ok(self.opt_int(op, key)?.unwrap_or(default))
    }

    pub fn req_int(&self, op: &str, key: &str) -> Result<i64> {
        self.opt_int(op, key)?
            .ok_or_else(|| Error::value(op, format!("argument {key} is required")))
    }

    pub fn opt_float(&self, op: &str, key: &str) -> Result<Option<f64>> {
        Ok(match self.get(key) {
            None => None,
            Some(Attr::Int(i)) => Some(*i as f64),
            Some(Attr::Float(f)) => Some(*f),
            Some(Attr::Bool(b)) => Some(*b as i64 as f64),
            Some(v @ Attr::Str(s)) => Some(match s.trim() {
                "inf" | "Infinity" => f64::INFINITY,
                "-inf" | "-Infinity" => f64::NEG_INFINITY,
                "nan" | "NaN" => f64::NAN,
                t => t
                    .parse::<f64>()
                    .map_err(|_| Self::bad(op, key, v, "a number"))?,
            }),
            Some(v) => return Err(Self::bad(op, key, v, "a number")),
        })
    }

    pub fn float(&self, op: &str, key: &str, default: f64) -> Result<f64> {
        Ok(self.opt_float(op, key)?.unwrap_or(default))
    }

    pub fn bool(&self, op: &str, key: &str, default: bool) -> Result<bool> {
        Ok(match self.get(key) {
            None => default,
            Some(Attr::Bool(b)) => *b,
            Some(Attr::Int(i)) => *i != 0,
            Some(v @ Attr::Str(s)) => match s.trim() {
                "True" | "true" | "1" => true,
                "False" | "false" | "0" => false,
                _ => return Err(Self::bad(op, key, v, "a boolean")),
            },
            Some(v) => return Err(Self::bad(op, key, v, "a boolean")),
        })
    }

    pub fn opt_str(&self, key: &str) -> Option<String> {
        match self.get(key) {
            Some(Attr::Str(s)) => Some(s.trim().trim_matches('\'').trim_matches('"').to_string()),
            _ => None,
        }
    }

    pub fn str(&self, key: &str, default: &str) -> String {
        self.opt_str(key).unwrap_or_else(|| default.to_string())
    }

    /// A tuple of ints; a single int is a tuple of one.
    pub fn opt_ints(&self, op: &str, key: &str) -> Result<Option<Vec<i64>>> {
        Ok(match self.get(key) {
            None => None,
            Some(Attr::Ints(v)) => Some(v.clone()),
            Some(Attr::Int(i)) => Some(vec![*i]),
            Some(v @ Attr::Floats(f)) => {
                if f.iter().any(|x| x.fract() != 0.0) {
                    return Err(Self::bad(op, key, v, "a tuple of integers"));
                }
                Some(f.iter().map(|x| *x as i64).collect())
            }
            Some(v @ Attr::Str(s)) => match parse_list(s) {
                Some(parts) => Some(
                    parts
                        .iter()
                        .map(|p| {
                            if is_none(p) {
                                Ok(i64::MIN)
                            } else {
                                p.trim_end_matches('L').parse::<i64>()
                            }
                        })
                        .collect::<std::result::Result<_, _>>()
                        .map_err(|_| Self::bad(op, key, v, "a tuple of integers"))?,
                ),
                None => Some(vec![s
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| Self::bad(op, key, v, "a tuple of integers"))?]),
            },
            Some(v) => return Err(Self::bad(op, key, v, "a tuple of integers")),
        })
    }

    pub fn ints(&self, op: &str, key: &str, default: &[i64]) -> Result<Vec<i64>> {
        Ok(self.opt_ints(op, key)?.unwrap_or_else(|| default.to_vec()))
    }

    pub fn opt_floats(&self, op: &str, key: &str) -> Result<Option<Vec<f64>>> {
        Ok(match self.get(key) {
            None => None,
            Some(Attr::Floats(v)) => Some(v.clone()),
            Some(Attr::Ints(v)) => Some(v.iter().map(|&i| i as f64).collect()),
            Some(Attr::Int(i)) => Some(vec![*i as f64]),
            Some(Attr::Float(f)) => Some(vec![*f]),
            Some(v @ Attr::Str(s)) => {
                let parts = parse_list(s).unwrap_or_else(|| vec![s.trim()]);
                Some(
                    parts
                        .iter()
                        .map(|p| p.parse::<f64>())
                        .collect::<std::result::Result<_, _>>()
                        .map_err(|_| Self::bad(op, key, v, "a tuple of numbers"))?,
                )
            }
            Some(v) => return Err(Self::bad(op, key, v, "a tuple of numbers")),
        })
    }

    pub fn opt_dtype(&self, op: &str, key: &str) -> Result<Option<DType>> {
        match self.opt_str(key) {
            None => Ok(None),
            Some(s) => DType::from_name(&s)
                .map(Some)
                .ok_or_else(|| Error::dtype(op, format!("unknown dtype {s:?}"))),
        }
    }

    /// MXNet's string spelling of each value, as 1.x writes it in symbol JSON.
    pub fn to_mxnet_strings(&self) -> Vec<(String, String)> {
        let b = |b: bool| {
            if b {
                "True".to_string()
            } else {
                "False".to_string()
            }
        };
        let tuple = |v: Vec<String>| {
            if v.len() == 1 {
                format!("({},)", v[0])
            } else {
                format!("({})", v.join(", "))
            }
        };
        self.0
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    Attr::None => "None".to_string(),
                    Attr::Bool(x) => b(*x),
                    Attr::Int(i) => i.to_string(),
                    Attr::Float(f) => format!("{f}"),
                    Attr::Str(s) => s.clone(),
                    Attr::Ints(v) => tuple(v.iter().map(|i| i.to_string()).collect()),
                    Attr::Floats(v) => tuple(v.iter().map(|f| format!("{f}")).collect()),
                };
                (k.clone(), s)
            })
            .collect()
    }

    /// The same attributes as the strings of `to_mxnet_strings`: what an op reads back from
    /// symbol JSON.
    pub fn stringified(&self) -> Attrs {
        Attrs(
            self.to_mxnet_strings()
                .into_iter()
                .map(|(k, v)| (k, Attr::Str(v)))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn strings_from_json_read_as_values() {
        let a = Attrs::new()
            .with("kernel", Attr::Str("(3, 3)".into()))
            .with("no_bias", Attr::Str("True".into()))
            .with("axis", Attr::Str("None".into()))
            .with("eps", Attr::Str("1e-05".into()));
        assert_eq!(a.ints("t", "kernel", &[]).unwrap(), vec![3, 3]);
        assert!(a.bool("t", "no_bias", false).unwrap());
        assert_eq!(a.opt_int("t", "axis").unwrap(), None);
        assert_eq!(a.float("t", "eps", 0.0).unwrap(), 1e-5);
        assert!(a.opt_int("t", "kernel").is_err());
        let w = Attrs::new()
            .with("kernel", Attr::Ints(vec![3, 3]))
            .with("flag", Attr::Bool(true))
            .to_mxnet_strings();
        assert_eq!(w[0].1, "(3, 3)");
        assert_eq!(w[1].1, "True");
    }
}
