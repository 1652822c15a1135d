//! `_core.Graph` and the trace calls: the Rust graph (`mxg_core::graph`) for hybridize, Symbol,
//! export and SymbolBlock.
use crate::errors::guard;
use crate::{parse_dtype, wrap, PyTensor};
use mxg_core::graph::{json, trace, Entry, Graph, Kind, Node};
use mxg_core::ops::Meta;
use mxg_core::Tensor;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::HashMap;
use std::sync::Arc;

/// An immutable graph, shared by the Python objects holding it.
#[pyclass(name = "Graph", module = "mxgluon._core", frozen)]
pub struct PyGraph {
    pub g: Arc<Graph>,
}

fn named(v: Vec<(String, PyRef<'_, PyTensor>)>) -> Vec<(String, Tensor)> {
    v.into_iter().map(|(n, t)| (n, t.t.clone())).collect()
}

fn new(g: Graph) -> PyGraph {
    PyGraph { g: Arc::new(g) }
}

#[pymethods]
impl PyGraph {
    /// Run on `args`, one tensor per variable in `arguments()` order.
    fn run(&self, py: Python<'_>, args: Vec<PyRef<'_, PyTensor>>) -> PyResult<Vec<PyTensor>> {
        let args: Vec<Tensor> = args.iter().map(|t| t.t.clone()).collect();
        let g = self.g.clone();
        let outs = py.detach(|| guard(|| g.run(&args)))?;
        Ok(outs.into_iter().map(wrap).collect())
    }
    /// `run`, calling `callback(name, op_name, tensor, is_input)` on each op output (MXNet's
    /// `NODE_output` names) and, with `monitor_all`, on each op input (named by its entry).
    fn run_observed(
        &self,
        args: Vec<PyRef<'_, PyTensor>>,
        callback: Py<PyAny>,
        monitor_all: bool,
    ) -> PyResult<Vec<PyTensor>> {
        let args: Vec<Tensor> = args.iter().map(|t| t.t.clone()).collect();
        let g = &self.g;
        let mut observe = |node: usize, ins: &[Tensor], outs: &[Tensor]| -> mxg_core::Result<()> {
            let n = &g.nodes[node];
            let mut calls: Vec<(String, Tensor, bool)> = Vec::new();
            if monitor_all {
                for (e, t) in n.inputs.iter().zip(ins) {
                    calls.push((g.entry_name(*e), t.clone(), true));
                }
            }
            for (index, t) in outs.iter().enumerate() {
                calls.push((g.entry_name(Entry { node, index }), t.clone(), false));
            }
            Python::attach(|py| {
                for (name, t, is_input) in calls {
                    callback
                        .call1(py, (name, n.op_name(), PyTensor { t }, is_input))
                        .map_err(|e| mxg_core::Error::Value {
                            op: "register_op_hook".into(),
                            msg: format!("the callback raised {}", e.value(py)),
                        })?;
                }
                Ok(())
            })
        };
        let outs = guard(|| g.run_observed(&args, &mut observe))?;
        Ok(outs.into_iter().map(wrap).collect())
    }
    /// The graph with variables renamed (old -> new).
    fn renamed(&self, names: HashMap<String, String>) -> PyGraph {
        new(self.g.renamed(&names))
    }
    /// Each variable's extra attributes (`__shape__`, `__dtype__`, ...).
    fn var_attrs(&self) -> HashMap<String, Vec<(String, String)>> {
        let g = &self.g;
        g.variables()
            .into_iter()
            .map(|i| (g.nodes[i].name.clone(), g.nodes[i].extra.clone()))
            .collect()
    }
    /// The constants a trace captured, by node name (export saves them with the parameters).
    fn constants(&self) -> Vec<(String, PyTensor)> {
        self.g
            .nodes
            .iter()
            .filter_map(|n| match &n.kind {
                Kind::Const(t) => Some((n.name.clone(), wrap(t.clone()))),
                _ => None,
            })
            .collect()
    }
    /// The node of each output.
    fn output_nodes(&self) -> Vec<usize> {
        self.g.outputs.iter().map(|e| e.node).collect()
    }
    #[staticmethod]
    fn group(graphs: Vec<PyRef<'_, PyGraph>>) -> PyResult<PyGraph> {
        let gs: Vec<&Graph> = graphs.iter().map(|g| &*g.g).collect();
        guard(|| Graph::group(&gs)).map(new)
    }
    /// The registered op `op` built from `attrs`, named `name`, on the outputs of `inputs`.
    #[staticmethod]
    #[pyo3(signature = (op, attrs, name, inputs, num_outputs=1))]
    fn compose(
        op: &str,
        attrs: Option<&Bound<'_, PyDict>>,
        name: &str,
        inputs: Vec<PyRef<'_, PyGraph>>,
        num_outputs: usize,
    ) -> PyResult<PyGraph> {
        let attrs = crate::to_attrs(attrs)?;
        let gs: Vec<&Graph> = inputs.iter().map(|g| &*g.g).collect();
        guard(|| Graph::compose(mxg_core::ops::build(op, &attrs)?, name, &gs, num_outputs)).map(new)
    }
    /// A graph of one variable.
    #[staticmethod]
    fn variable(name: &str, attrs: Vec<(String, String)>) -> PyGraph {
        let mut g = Graph::default();
        g.nodes.push(Node {
            extra: attrs,
            ..Node::var(name)
        });
        g.outputs.push(Entry { node: 0, index: 0 });
        new(g)
    }
    /// Variable names, in argument order (auxiliary states included).
    fn arguments(&self) -> Vec<String> {
        self.g.variable_names()
    }
    /// The variables some op updates in place (BatchNorm's running statistics).
    fn aux(&self) -> Vec<String> {
        let aux = self.g.aux_variables();
        aux.into_iter()
            .map(|i| self.g.nodes[i].name.clone())
            .collect()
    }
    fn outputs(&self) -> Vec<String> {
        self.g.output_names()
    }
    /// `(name, MXNet op name, [(input node, output index)])` per node, in order.
    fn nodes(&self) -> Vec<(String, &'static str, Vec<(usize, usize)>)> {
        let g = &self.g;
        g.nodes
            .iter()
            .map(|n| {
                let ins = n.inputs.iter().map(|e| (e.node, e.index)).collect();
                (n.name.clone(), n.op_name(), ins)
            })
            .collect()
    }
    fn internals(&self) -> PyGraph {
        new(self.g.internals())
    }
    /// The graph of the outputs at positions `which` only.
    fn select(&self, which: Vec<usize>) -> PyResult<PyGraph> {
        let outs = which
            .iter()
            .map(|&i| {
                self.g.outputs.get(i).copied().ok_or_else(|| {
                    crate::errors::to_py(mxg_core::Error::index(
                        "Symbol",
                        format!("output {i} of {}", self.g.outputs.len()),
                    ))
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(new(self.g.with_outputs(&outs, &[])))
    }
    /// The graph with activations fused into the matmuls and convolutions before them.
    fn fused(&self) -> PyGraph {
        let mut g = (*self.g).clone();
        g.fuse_activations();
        new(g)
    }
    /// Output shapes and dtypes from the variables' `(shape, dtype)`.
    fn infer(&self, args: Vec<(Vec<usize>, String)>) -> PyResult<Vec<(Vec<usize>, &'static str)>> {
        let metas = args
            .into_iter()
            .map(|(s, d)| Ok(Meta::new(s.into(), parse_dtype(&d)?)))
            .collect::<PyResult<Vec<_>>>()?;
        let all = guard(|| self.g.infer(&metas))?;
        Ok(self
            .g
            .outputs
            .iter()
            .map(|e| {
                let m = &all[e.node][e.index];
                (m.shape.to_vec(), m.dtype.name())
            })
            .collect())
    }
    /// MXNet 1.x symbol JSON; `var_attrs` maps a variable's name to its extra attributes.
    fn tojson(&self, var_attrs: HashMap<String, Vec<(String, String)>>) -> PyResult<String> {
        guard(|| json::to_json(&self.g, &|n| var_attrs.get(n).cloned().unwrap_or_default()))
    }
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<PyGraph> {
        guard(|| json::from_json(text)).map(new)
    }
}

/// Start tracing: `inputs` become the graph's first variables; reading `params` is refused too.
#[pyfunction]
pub fn trace_start(
    inputs: Vec<(String, PyRef<'_, PyTensor>)>,
    params: Vec<(String, PyRef<'_, PyTensor>)>,
) -> PyResult<()> {
    guard(|| trace::start(&named(inputs), &named(params)))
}

/// End tracing: the graph of `outputs`, captured parameters made variables by name.
#[pyfunction]
pub fn trace_finish(
    outputs: Vec<PyRef<'_, PyTensor>>,
    params: Vec<(String, PyRef<'_, PyTensor>)>,
) -> PyResult<PyGraph> {
    let outs: Vec<Tensor> = outputs.iter().map(|t| t.t.clone()).collect();
    guard(|| trace::finish(&outs, &named(params))).map(new)
}

#[pyfunction]
pub fn trace_abort() {
    trace::abort()
}

/// MXNet's type flag of a dtype (`__dtype__` of a variable node).
#[pyfunction]
pub fn mxnet_type_flag(dtype: &str) -> PyResult<i32> {
    Ok(parse_dtype(dtype)?.mxnet_flag())
}

/// The dtype of an MXNet type flag.
#[pyfunction]
pub fn dtype_of_mxnet_flag(flag: i32) -> PyResult<&'static str> {
    mxg_core::DType::from_mxnet_flag(flag)
        .map(|d| d.name())
        .ok_or_else(|| {
            crate::errors::to_py(mxg_core::Error::dtype(
                "symbol",
                format!("unknown MXNet type flag {flag}"),
            ))
        })
}

/// The names of every registered op, sorted.
#[pyfunction]
pub fn op_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = mxg_core::ops::registry().keys().copied().collect();
    v.sort_unstable();
    v
}

#[pyfunction]
pub fn trace_active() -> bool {
    trace::active()
}
