//! Inference from Rust alone: an exported model (`-symbol.json` plus `.params`) loaded once and
//! run from any number of threads. The model is immutable: a run reads the parameters (a shared
//! read lock per tensor, no global lock) and allocates its own intermediate values.
use super::{json, Graph};
use crate::{io, Error, Result, Tensor};
use std::collections::HashMap;
use std::path::Path;

pub struct Model {
    graph: Graph,
    /// One per graph variable: the parameter's value, or `None` for an input.
    bound: Vec<Option<Tensor>>,
    inputs: Vec<String>,
}

impl Model {
    /// Load `symbol` (MXNet symbol JSON) and `params` (an MXNet `.params` file, names with or
    /// without the `arg:`/`aux:` prefixes). Variables with no parameter are the inputs.
    pub fn load(symbol: impl AsRef<Path>, params: impl AsRef<Path>) -> Result<Model> {
        let (symbol, params) = (symbol.as_ref(), params.as_ref());
        let text = std::fs::read_to_string(symbol)
            .map_err(|e| Error::Io(format!("{}: cannot read: {e}", symbol.display())))?;
        let graph = json::from_json(&text).map_err(|e| e.within(&symbol.display().to_string()))?;
        let file = io::load(params)?;
        let names = file.names.ok_or_else(|| {
            Error::Io(format!(
                "{}: holds an unnamed list of arrays, not parameters",
                params.display()
            ))
        })?;
        let values = names
            .into_iter()
            .map(|n| match n.split_once(':') {
                Some(("arg" | "aux", rest)) => rest.to_string(),
                _ => n,
            })
            .zip(file.arrays)
            .collect();
        Ok(Model::new(graph, values))
    }

    /// A model of `graph` with `params` bound by name; the other variables are the inputs.
    pub fn new(graph: Graph, mut params: HashMap<String, Tensor>) -> Model {
        let names = graph.variable_names();
        let bound: Vec<Option<Tensor>> = names.iter().map(|n| params.remove(n)).collect();
        let inputs = names
            .iter()
            .zip(&bound)
            .filter(|(_, b)| b.is_none())
            .map(|(n, _)| n.clone())
            .collect();
        Model {
            graph,
            bound,
            inputs,
        }
    }

    /// The names of the inputs `run` takes, in order.
    pub fn input_names(&self) -> &[String] {
        &self.inputs
    }

    /// MXNet's names of the outputs (`fc1_output`, ...).
    pub fn output_names(&self) -> Vec<String> {
        self.graph.output_names()
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Run the model on `inputs`, one per `input_names()`.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        if inputs.len() != self.inputs.len() {
            return Err(Error::value(
                "Model.run",
                format!(
                    "expected {} inputs ({}), got {}",
                    self.inputs.len(),
                    self.inputs.join(", "),
                    inputs.len()
                ),
            ));
        }
        let mut given = inputs.iter();
        let args: Vec<Tensor> = self
            .bound
            .iter()
            .map(|b| {
                b.clone()
                    .unwrap_or_else(|| given.next().expect("counted").clone())
            })
            .collect();
        self.graph.run(&args)
    }
}
