//! The graph: the Symbol IR that `hybridize` traces and MXNet's symbol JSON describes.
//!
//! Nodes are variables (inputs and parameters, bound by position when the graph runs), constants
//! a trace captured, and ops: the same `Op` values the eager path runs, so a graph computes what
//! eager code computes. Nodes are kept in topological order (every input comes from an earlier
//! node). `run` executes the nodes through `ops::apply`, so under `autograd.record()` a graph run
//! is recorded like eager code and `backward` runs in Rust too.
pub mod json;
pub mod model;
pub mod trace;

use crate::ops::{self, Meta, Op};
use crate::{Error, Result, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

/// One output of one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    pub node: usize,
    pub index: usize,
}

#[derive(Clone)]
pub enum Kind {
    /// An input or a parameter.
    Var,
    /// A value a trace met that is neither an input nor a parameter (an array made in forward).
    Const(Tensor),
    Op(Arc<dyn Op>),
}

#[derive(Clone)]
pub struct Node {
    pub name: String,
    pub kind: Kind,
    pub inputs: Vec<Entry>,
    pub num_outputs: usize,
    /// MXNet's node attributes beyond the op's own (`__shape__`, `__init__`, `__lr_mult__`, ...).
    pub extra: Vec<(String, String)>,
}

impl Node {
    pub fn var(name: &str) -> Node {
        Node {
            name: name.to_string(),
            kind: Kind::Var,
            inputs: Vec::new(),
            num_outputs: 1,
            extra: Vec::new(),
        }
    }
    pub fn op(&self) -> Option<&Arc<dyn Op>> {
        match &self.kind {
            Kind::Op(op) => Some(op),
            _ => None,
        }
    }
    /// MXNet's operator name (`null` for variables and constants).
    pub fn op_name(&self) -> &'static str {
        self.op().map_or("null", |op| op.mxnet_name())
    }
}

#[derive(Clone, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub outputs: Vec<Entry>,
}

/// An error of one node, with the node named.
fn at(node: &Node, e: Error) -> Error {
    e.within(&format!("node {} ({})", node.name, node.op_name()))
}

impl Graph {
    /// The variable nodes in order: the graph's arguments (parameters and auxiliary states too).
    pub fn variables(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| matches!(self.nodes[i].kind, Kind::Var))
            .collect()
    }

    pub fn variable_names(&self) -> Vec<String> {
        self.variables()
            .into_iter()
            .map(|i| self.nodes[i].name.clone())
            .collect()
    }

    /// The variables some op updates in place (MXNet's auxiliary states: BatchNorm's running
    /// statistics); the others are the arguments.
    pub fn aux_variables(&self) -> Vec<usize> {
        let mut aux = vec![false; self.nodes.len()];
        for n in &self.nodes {
            if let Kind::Op(op) = &n.kind {
                for &i in op.aux_inputs() {
                    if let Some(e) = n.inputs.get(i) {
                        aux[e.node] = matches!(self.nodes[e.node].kind, Kind::Var);
                    }
                }
            }
        }
        self.variables().into_iter().filter(|&i| aux[i]).collect()
    }

    /// MXNet's name of an output entry: a variable's own name, `NAME_output` for an op with one
    /// output, `NAME_outputI` for one of several.
    pub fn entry_name(&self, e: Entry) -> String {
        let n = &self.nodes[e.node];
        match n.kind {
            Kind::Op(_) if n.num_outputs > 1 => format!("{}_output{}", n.name, e.index),
            Kind::Op(_) => format!("{}_output", n.name),
            _ => n.name.clone(),
        }
    }

    pub fn output_names(&self) -> Vec<String> {
        self.outputs.iter().map(|&e| self.entry_name(e)).collect()
    }

    /// The same nodes with every output of every node as the graph's outputs (`get_internals`).
    pub fn internals(&self) -> Graph {
        let outputs = (0..self.nodes.len())
            .flat_map(|n| (0..self.nodes[n].num_outputs).map(move |index| Entry { node: n, index }))
            .collect();
        Graph {
            nodes: self.nodes.clone(),
            outputs,
        }
    }

    /// The graph computing `outputs` only: nodes they do not depend on are removed except those
    /// in `keep`, the rest renumbered in the same order.
    pub fn with_outputs(&self, outputs: &[Entry], keep: &[usize]) -> Graph {
        let mut live = vec![false; self.nodes.len()];
        for e in outputs {
            live[e.node] = true;
        }
        for &k in keep {
            live[k] = true;
        }
        for i in (0..self.nodes.len()).rev() {
            if live[i] {
                for e in &self.nodes[i].inputs {
                    live[e.node] = true;
                }
            }
        }
        let mut map = vec![usize::MAX; self.nodes.len()];
        let mut nodes = Vec::new();
        for (i, n) in self.nodes.iter().enumerate().filter(|(i, _)| live[*i]) {
            map[i] = nodes.len();
            let mut n = n.clone();
            for e in &mut n.inputs {
                e.node = map[e.node];
            }
            nodes.push(n);
        }
        let outputs = outputs
            .iter()
            .map(|e| Entry {
                node: map[e.node],
                index: e.index,
            })
            .collect();
        Graph { nodes, outputs }
    }

    /// How many times each node's outputs are read: by other nodes, and as graph outputs.
    fn readers(&self) -> Vec<usize> {
        let mut r = vec![0usize; self.nodes.len()];
        for e in self
            .nodes
            .iter()
            .flat_map(|n| &n.inputs)
            .chain(&self.outputs)
        {
            r[e.node] += 1;
        }
        r
    }

    /// Run the graph on `args`, one tensor per variable in `variables()` order, on a pool thread
    /// (`autograd::on_pool`). Each value is dropped after its last use.
    pub fn run(&self, args: &[Tensor]) -> Result<Vec<Tensor>> {
        crate::autograd::on_pool(|| self.run_observed(args, &mut |_, _, _| Ok(())))
    }

    /// `run`, calling `observe(node, inputs, outputs)` after each op node.
    pub fn run_observed(
        &self,
        args: &[Tensor],
        observe: &mut dyn FnMut(usize, &[Tensor], &[Tensor]) -> Result<()>,
    ) -> Result<Vec<Tensor>> {
        let vars = self.variables();
        if args.len() != vars.len() {
            return Err(Error::value(
                "graph",
                format!(
                    "expected {} arguments ({}), got {}",
                    vars.len(),
                    self.variable_names().join(", "),
                    args.len()
                ),
            ));
        }
        // Outputs count as reads that never end, so their values are never dropped.
        let mut uses = self.readers();
        let mut values: Vec<Vec<Tensor>> = vec![Vec::new(); self.nodes.len()];
        let mut next_arg = args.iter();
        for (i, n) in self.nodes.iter().enumerate() {
            values[i] = match &n.kind {
                Kind::Var => vec![next_arg.next().expect("counted above").clone()],
                Kind::Const(t) => vec![t.clone()],
                Kind::Op(op) => {
                    let ins: Vec<Tensor> = n
                        .inputs
                        .iter()
                        .map(|e| values[e.node][e.index].clone())
                        .collect();
                    for e in &n.inputs {
                        uses[e.node] -= 1;
                        if uses[e.node] == 0 {
                            values[e.node] = Vec::new();
                        }
                    }
                    let refs: Vec<&Tensor> = ins.iter().collect();
                    let op = op.fresh().unwrap_or_else(|| op.clone());
                    let outs = ops::apply(op, &refs).map_err(|e| at(n, e))?;
                    observe(i, &ins, &outs)?;
                    if outs.len() < n.num_outputs {
                        return Err(at(
                            n,
                            Error::value(
                                "graph",
                                format!(
                                    "the graph uses output {} of an op with {} outputs",
                                    n.num_outputs - 1,
                                    outs.len()
                                ),
                            ),
                        ));
                    }
                    outs
                }
            };
        }
        Ok(self
            .outputs
            .iter()
            .map(|e| values[e.node][e.index].clone())
            .collect())
    }

    /// The same graph with variables renamed by `names` (old -> new).
    pub fn renamed(&self, names: &HashMap<String, String>) -> Graph {
        let mut g = self.clone();
        for n in &mut g.nodes {
            if let (Kind::Var, Some(new)) = (&n.kind, names.get(&n.name)) {
                n.name = new.clone();
            }
        }
        g
    }

    /// One graph with the outputs of all of `graphs`. Nodes are matched by name: a variable of
    /// one name is one variable, and op nodes of one name must be the same op on the same inputs
    /// (as when the graphs were cut from one graph).
    pub fn group(graphs: &[&Graph]) -> Result<Graph> {
        let mut g = Graph::default();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for part in graphs {
            let mut map = Vec::with_capacity(part.nodes.len());
            for n in &part.nodes {
                let mut n = n.clone();
                for e in &mut n.inputs {
                    e.node = map[e.node];
                }
                let id = match by_name.get(&n.name) {
                    Some(&i) => {
                        let old = &g.nodes[i];
                        if old.op_name() != n.op_name() || old.inputs != n.inputs {
                            return Err(Error::value(
                                "Group",
                                format!("two different nodes are both named {}", n.name),
                            ));
                        }
                        i
                    }
                    None => {
                        by_name.insert(n.name.clone(), g.nodes.len());
                        g.nodes.push(n);
                        g.nodes.len() - 1
                    }
                };
                map.push(id);
            }
            g.outputs.extend(part.outputs.iter().map(|e| Entry {
                node: map[e.node],
                index: e.index,
            }));
        }
        Ok(g)
    }

    /// `op` (a node named `name` with `num_outputs` outputs) applied to the outputs of `inputs`,
    /// in order, in one graph with them (`Graph::group`): Symbol composition.
    pub fn compose(
        op: Arc<dyn Op>,
        name: &str,
        inputs: &[&Graph],
        num_outputs: usize,
    ) -> Result<Graph> {
        let mut g = Graph::group(inputs)?;
        if g.nodes.iter().any(|n| n.name == name) {
            return Err(Error::value(
                op.mxnet_name(),
                format!("the name {name} is taken by another node of the inputs' graph"),
            ));
        }
        let inputs = std::mem::take(&mut g.outputs);
        g.nodes.push(Node {
            name: name.to_string(),
            kind: Kind::Op(op),
            inputs,
            num_outputs,
            extra: Vec::new(),
        });
        let node = g.nodes.len() - 1;
        g.outputs = (0..num_outputs)
            .map(|index| Entry { node, index })
            .collect();
        Ok(g)
    }

    /// Shapes and dtypes of every node's outputs from those of the variables (in `variables()`
    /// order), by each op's own inference.
    pub fn infer(&self, args: &[Meta]) -> Result<Vec<Vec<Meta>>> {
        let mut metas: Vec<Vec<Meta>> = Vec::with_capacity(self.nodes.len());
        let mut next_arg = args.iter();
        for n in &self.nodes {
            let m = match &n.kind {
                Kind::Var => vec![next_arg
                    .next()
                    .ok_or_else(|| {
                        Error::value("infer_shape", format!("no shape given for {}", n.name))
                    })?
                    .clone()],
                Kind::Const(t) => vec![Meta::of(t)],
                Kind::Op(op) => {
                    let ins: Vec<Meta> = n
                        .inputs
                        .iter()
                        .map(|e| metas[e.node][e.index].clone())
                        .collect();
                    op.infer(&ins).map_err(|e| at(n, e))?
                }
            };
            metas.push(m);
        }
        Ok(metas)
    }

    /// Fuse an activation into the matmul or convolution before it where the op can carry it
    /// (`Op::with_activation`) and nothing else reads the op's output.
    pub fn fuse_activations(&mut self) {
        let readers = self.readers();
        let mut fused_any = false;
        for i in 0..self.nodes.len() {
            let Some(act) = self.nodes[i].op().and_then(|op| op.activation()) else {
                continue;
            };
            let src = self.nodes[i].inputs[0];
            if readers[src.node] != 1 || self.nodes[src.node].num_outputs != 1 {
                continue;
            }
            let Some(fused) = self.nodes[src.node]
                .op()
                .and_then(|op| op.with_activation(act))
            else {
                continue;
            };
            // The fused op takes the producer's inputs and replaces the activation node; the
            // producer becomes dead and is removed below.
            let inputs = self.nodes[src.node].inputs.clone();
            let n = &mut self.nodes[i];
            n.kind = Kind::Op(fused);
            n.inputs = inputs;
            fused_any = true;
        }
        if fused_any {
            *self = self.with_outputs(&self.outputs, &self.variables());
        }
    }
}

#[cfg(test)]
mod tests;
