//! Tracing: while a trace is active on a thread, every op that `ops::apply` runs at the top level
//! (not the ops an op's own forward calls) is also appended to a graph, its inputs found by tensor
//! identity. Tensors the trace did not make are captured as constants; `finish` turns those that
//! are parameters into variables. The traced code runs eagerly all the while, so the call that
//! traces returns exactly the eager results.
use super::{Entry, Graph, Kind, Node};
use crate::ops::Op;
use crate::{Error, Result, Tensor};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

struct Tracer {
    graph: Graph,
    /// Tensor identity -> its entry, whether it depends on a variable, and the tensor (held so
    /// that its identity is not reused by a new tensor while the trace lasts).
    known: HashMap<usize, (Entry, bool, Tensor)>,
    counts: HashMap<&'static str, usize>,
}

thread_local! {
    static TRACER: RefCell<Option<Tracer>> = const { RefCell::new(None) };
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Whether this thread is tracing.
pub fn active() -> bool {
    ACTIVE.with(|a| a.get())
}

/// Start tracing with `inputs` as the graph's first variables. `params` are the parameters known
/// now: like the inputs, reading their values inside the trace is refused.
pub fn start(inputs: &[(String, Tensor)], params: &[(String, Tensor)]) -> Result<()> {
    if active() {
        return Err(Error::Unsupported(
            "a trace is already running on this thread (hybridize does not nest traces)".into(),
        ));
    }
    let mut t = Tracer {
        graph: Graph::default(),
        known: HashMap::new(),
        counts: HashMap::new(),
    };
    for (name, x) in inputs {
        let e = Entry {
            node: t.graph.nodes.len(),
            index: 0,
        };
        t.graph.nodes.push(Node::var(name));
        t.known.insert(x.id(), (e, true, x.clone()));
    }
    for (_, p) in params {
        let (e, _) = t.entry(p);
        t.known.insert(p.id(), (e, true, p.clone()));
    }
    TRACER.with(|c| *c.borrow_mut() = Some(t));
    ACTIVE.with(|a| a.set(true));
    Ok(())
}

/// Stop tracing and drop what was traced.
pub fn abort() {
    ACTIVE.with(|a| a.set(false));
    TRACER.with(|c| c.borrow_mut().take());
}

/// Runs an op's forward one level down: ops it calls are not recorded.
pub(crate) fn nested<T>(f: impl FnOnce() -> T) -> T {
    DEPTH.with(|d| d.set(d.get() + 1));
    let r = f();
    DEPTH.with(|d| d.set(d.get() - 1));
    r
}

impl Tracer {
    fn entry(&mut self, t: &Tensor) -> (Entry, bool) {
        if let Some((e, live, _)) = self.known.get(&t.id()) {
            return (*e, *live);
        }
        let e = Entry {
            node: self.graph.nodes.len(),
            index: 0,
        };
        self.graph.nodes.push(Node {
            kind: Kind::Const(t.clone()),
            ..Node::var(&format!("_const{}", e.node))
        });
        self.known.insert(t.id(), (e, false, t.clone()));
        (e, false)
    }
}

/// Append `op` run on `inputs` giving `outputs` (called by `ops::apply` while tracing).
pub(crate) fn record(op: &Arc<dyn Op>, inputs: &[Tensor], outputs: &[Tensor]) {
    if DEPTH.with(|d| d.get()) > 0 {
        return;
    }
    TRACER.with(|c| {
        let mut c = c.borrow_mut();
        let Some(t) = c.as_mut() else { return };
        let mut live = false;
        let ins: Vec<Entry> = inputs
            .iter()
            .map(|x| {
                let (e, l) = t.entry(x);
                live |= l;
                e
            })
            .collect();
        let base = op.mxnet_name().trim_start_matches('_').to_lowercase();
        let count = t.counts.entry(op.mxnet_name()).or_insert(0);
        let name = format!("{base}{count}");
        *count += 1;
        let node = t.graph.nodes.len();
        t.graph.nodes.push(Node {
            name,
            kind: Kind::Op(op.clone()),
            inputs: ins,
            num_outputs: outputs.len(),
            extra: Vec::new(),
        });
        for (index, o) in outputs.iter().enumerate() {
            t.known
                .insert(o.id(), (Entry { node, index }, live, o.clone()));
        }
    });
}

/// Whether `t` is an input or a known parameter of the running trace or was computed from one:
/// reading its values would bake them into the graph.
pub fn depends_on_inputs(t: &Tensor) -> bool {
    active()
        && TRACER.with(|c| {
            c.borrow()
                .as_ref()
                .and_then(|tr| tr.known.get(&t.id()).map(|k| k.1))
                .unwrap_or(false)
        })
}

/// End the trace: the graph of `outputs`, with each captured constant that is one of `params`
/// made a variable of that name. Nodes the outputs do not need are removed; the input variables
/// stay, in order, as the first arguments.
pub fn finish(outputs: &[Tensor], params: &[(String, Tensor)]) -> Result<Graph> {
    let t = TRACER.with(|c| c.borrow_mut().take());
    let num_inputs = t.as_ref().map_or(0, |t| {
        t.graph
            .nodes
            .iter()
            .take_while(|n| matches!(n.kind, Kind::Var))
            .count()
    });
    ACTIVE.with(|a| a.set(false));
    let mut t = t.ok_or_else(|| Error::Unsupported("no trace is running on this thread".into()))?;
    let heads: Vec<Entry> = outputs.iter().map(|o| t.entry(o).0).collect();
    // A parameter is a captured constant, or, when it was initialized inside the trace (deferred
    // initialization), the output of the op that made it: either way its node becomes a variable.
    for (name, p) in params {
        if let Some((e, _, _)) = t.known.get(&p.id()) {
            let n = &mut t.graph.nodes[e.node];
            if matches!(n.kind, Kind::Const(_)) || n.num_outputs == 1 {
                *n = Node::var(name);
            }
        }
    }
    let inputs: Vec<usize> = (0..num_inputs).collect();
    Ok(t.graph.with_outputs(&heads, &inputs))
}

/// Refuse `what` (reading values, writing in place) on `t` when it depends on the trace's
/// inputs or parameters: the graph could not repeat it, so a hybridized block would silently
/// compute something else on its next call.
pub fn refuse(t: &Tensor, what: &str) -> Result<()> {
    if depends_on_inputs(t) {
        return Err(Error::Unsupported(format!(
            "{what} on an array computed from the inputs or parameters cannot be traced: a \
             hybridized forward must be array operations only (no values read into Python, no \
             in-place writes); run this block without hybridize()"
        )));
    }
    Ok(())
}
