//! Autograd: a recording switch, a tape of nodes linked through tensor entries, and a backward
//! pass that walks the nodes in reverse topological order without recursion.
use crate::ops::{Ctx, Op};
use crate::{Error, Result, Tensor};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

thread_local! {
    static RECORDING: Cell<bool> = const { Cell::new(false) };
    static TRAINING: Cell<bool> = const { Cell::new(false) };
}

pub fn is_recording() -> bool {
    RECORDING.with(|c| c.get())
}
/// Sets the recording flag and returns the previous one.
pub fn set_recording(on: bool) -> bool {
    RECORDING.with(|c| c.replace(on))
}
pub fn is_training() -> bool {
    TRAINING.with(|c| c.get())
}
/// Sets the training flag and returns the previous one.
pub fn set_training(on: bool) -> bool {
    TRAINING.with(|c| c.replace(on))
}

/// How a variable's gradient buffer takes a new gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradReq {
    Null,
    Write,
    Add,
}

impl GradReq {
    pub fn parse(s: &str) -> Result<GradReq> {
        match s {
            "null" => Ok(GradReq::Null),
            "write" => Ok(GradReq::Write),
            "add" => Ok(GradReq::Add),
            _ => Err(Error::value(
                "attach_grad",
                format!("grad_req must be 'write', 'add' or 'null', not {s:?}"),
            )),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            GradReq::Null => "null",
            GradReq::Write => "write",
            GradReq::Add => "add",
        }
    }
}

/// A leaf that gradients flow into.
pub struct Variable {
    grad: Mutex<Option<Tensor>>,
    req: GradReq,
    /// Set when a backward pass writes the gradient; the Trainer clears it (stale-gradient check).
    fresh: AtomicBool,
}

impl Variable {
    pub fn grad(&self) -> Option<Tensor> {
        self.grad.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub fn req(&self) -> GradReq {
        self.req
    }
    /// Whether a backward pass wrote the gradient since the flag was last cleared; `clear` resets it.
    pub fn fresh(&self, clear: bool) -> bool {
        if clear {
            self.fresh.swap(false, Ordering::Relaxed)
        } else {
            self.fresh.load(Ordering::Relaxed)
        }
    }
}

struct Saved {
    inputs: Vec<Tensor>,
    outputs: Vec<Tensor>,
}

/// One recorded op call.
pub struct Node {
    op: Arc<dyn Op>,
    input_entries: Vec<Option<Entry>>,
    saved: Mutex<Option<Saved>>,
    num_outputs: usize,
}

/// Dropping the last handle on a long chain of nodes would recurse once per node (each node owns
/// its inputs' nodes) and overflow the stack for deep graphs (100k-step loops, long RNNs). Unlink
/// the chain with an explicit stack instead.
impl Drop for Node {
    fn drop(&mut self) {
        let mut stack: Vec<Arc<Node>> = Vec::new();
        take_input_nodes(&mut self.input_entries, &mut stack);
        while let Some(n) = stack.pop() {
            // Only the last owner takes the node apart; it is then dropped with no inputs left.
            if let Ok(mut node) = Arc::try_unwrap(n) {
                take_input_nodes(&mut node.input_entries, &mut stack);
            }
        }
    }
}

fn take_input_nodes(entries: &mut Vec<Option<Entry>>, stack: &mut Vec<Arc<Node>>) {
    for e in entries.drain(..) {
        if let Some(Entry::Out(n, _)) = e {
            stack.push(n);
        }
    }
}

/// Where a tensor's value comes from, for autograd.
#[derive(Clone)]
pub enum Entry {
    Var(Arc<Variable>),
    Out(Arc<Node>, usize),
}

impl Entry {
    pub fn needs_grad(&self) -> bool {
        match self {
            Entry::Var(v) => v.req != GradReq::Null,
            Entry::Out(..) => true,
        }
    }
    pub fn variable(&self) -> Option<&Arc<Variable>> {
        match self {
            Entry::Var(v) => Some(v),
            Entry::Out(..) => None,
        }
    }
}

fn ptr<T: ?Sized>(a: &Arc<T>) -> usize {
    Arc::as_ptr(a) as *const () as usize
}

/// Make `t` a variable with gradient buffer `grad` (`x.attach_grad()`, `mark_variables`).
pub fn mark_variable(t: &Tensor, grad: Option<Tensor>, req: GradReq) {
    t.set_entry(Some(Entry::Var(Arc::new(Variable {
        grad: Mutex::new(grad),
        req,
        fresh: AtomicBool::new(false),
    }))));
}

/// The gradient buffer of a variable.
pub fn grad_of(t: &Tensor) -> Option<Tensor> {
    t.entry().and_then(|e| e.variable().and_then(|v| v.grad()))
}

pub(crate) fn record(op: Arc<dyn Op>, inputs: &[Tensor], outputs: &[Tensor]) {
    let node = Arc::new(Node {
        input_entries: inputs
            .iter()
            .map(|t| t.entry().filter(|e| e.needs_grad()))
            .collect(),
        saved: Mutex::new(Some(Saved {
            inputs: inputs.iter().map(|t| t.detach()).collect(),
            outputs: outputs.iter().map(|t| t.detach()).collect(),
        })),
        num_outputs: outputs.len(),
        op,
    });
    for (i, o) in outputs.iter().enumerate() {
        o.set_entry(Some(Entry::Out(node.clone(), i)));
    }
}

/// Restores the recording and training flags when dropped.
struct ModeGuard(bool, bool);
impl Drop for ModeGuard {
    fn drop(&mut self) {
        set_recording(self.0);
        set_training(self.1);
    }
}

fn add_grad(slot: &mut Option<Tensor>, g: Tensor) -> Result<()> {
    *slot = Some(match slot.take() {
        None => g,
        Some(prev) => prev.add(&g)?,
    });
    Ok(())
}

/// Back-propagate from `heads`.
///
/// With `variables`, returns their gradients (zeros where unreached) and leaves `.grad` buffers
/// alone (`autograd.grad`); without, writes or adds into each reached variable's buffer by its
/// grad_req (`autograd.backward`). `create_graph` records the backward pass itself, for
/// higher-order gradients; without `retain_graph` the saved values are freed.
pub fn backward(
    heads: &[Tensor],
    head_grads: &[Option<Tensor>],
    variables: Option<&[Tensor]>,
    retain_graph: bool,
    create_graph: bool,
    train_mode: bool,
) -> Result<Vec<Tensor>> {
    let _guard = ModeGuard(set_recording(create_graph), set_training(train_mode));
    let mut node_grads: HashMap<(usize, usize), Tensor> = HashMap::new();
    let mut var_grads: HashMap<usize, (Arc<Variable>, Option<Tensor>)> = HashMap::new();
    let mut roots: Vec<Arc<Node>> = Vec::new();

    for (i, h) in heads.iter().enumerate() {
        let entry = h.entry().filter(|e| e.needs_grad()).ok_or_else(|| {
            Error::Autograd(
                "cannot differentiate with respect to a head that is not part of a recorded graph: \
                 call attach_grad() on the inputs and compute the head inside autograd.record()"
                    .into(),
            )
        })?;
        let g = match head_grads.get(i).cloned().flatten() {
            Some(g) => {
                if g.shape() != h.shape() {
                    return Err(Error::shapes(
                        "backward",
                        &[h.shape(), g.shape()],
                        "head_grads must match the heads' shapes",
                    ));
                }
                g
            }
            None => Tensor::full(h.shape(), 1.0, h.dtype(), h.device())?,
        };
        match entry {
            Entry::Var(v) => add_grad(
                &mut var_grads.entry(ptr(&v)).or_insert((v.clone(), None)).1,
                g,
            )?,
            Entry::Out(n, k) => {
                let key = (ptr(&n), k);
                let mut slot = node_grads.remove(&key);
                add_grad(&mut slot, g)?;
                node_grads.insert(key, slot.expect("just added"));
                roots.push(n);
            }
        }
    }

    // Reverse topological order by an explicit-stack depth-first search (deep graphs are fine).
    let mut order: Vec<Arc<Node>> = Vec::new();
    let mut seen: HashMap<usize, ()> = HashMap::new();
    let mut stack: Vec<(Arc<Node>, bool)> = roots.into_iter().map(|n| (n, false)).collect();
    while let Some((n, done)) = stack.pop() {
        if done {
            order.push(n);
            continue;
        }
        if seen.insert(ptr(&n), ()).is_some() {
            continue;
        }
        stack.push((n.clone(), true));
        for e in n.input_entries.iter().flatten() {
            if let Entry::Out(m, _) = e {
                if !seen.contains_key(&ptr(m)) {
                    stack.push((m.clone(), false));
                }
            }
        }
    }

    let caller_only = order.iter().any(|n| n.op.needs_caller_thread());
    // The pass runs on a pool thread (its ops' parallel loops then start from the pool), unless
    // an op must stay on this thread.
    let pass = move || -> Result<Vec<Tensor>> {
        for node in order.iter().rev() {
            let id = ptr(node);
            let grads: Vec<Option<Tensor>> = (0..node.num_outputs)
                .map(|k| node_grads.remove(&(id, k)))
                .collect();
            if grads.iter().all(|g| g.is_none()) {
                continue;
            }
            let in_grads = {
                let saved = node.saved.lock().unwrap_or_else(|e| e.into_inner());
                let saved = saved.as_ref().ok_or_else(|| {
                    Error::Autograd(format!(
                        "the graph through {} was already freed by an earlier backward: pass \
                         retain_graph=True to the first backward to run another",
                        node.op.name()
                    ))
                })?;
                let inputs: Vec<Tensor> = if create_graph {
                    saved
                        .inputs
                        .iter()
                        .zip(&node.input_entries)
                        .map(|(t, e)| t.with_entry(e.clone()))
                        .collect()
                } else {
                    saved.inputs.clone()
                };
                let needs: Vec<bool> = node.input_entries.iter().map(Option::is_some).collect();
                let ctx = Ctx {
                    op: &node.op,
                    inputs: &inputs,
                    outputs: &saved.outputs,
                    needs_grad: &needs,
                };
                node.op.backward(&ctx, &grads)?
            };
            for (e, g) in node.input_entries.iter().zip(in_grads) {
                let (Some(e), Some(g)) = (e, g) else { continue };
                match e {
                    Entry::Var(v) => add_grad(
                        &mut var_grads.entry(ptr(v)).or_insert((v.clone(), None)).1,
                        g,
                    )?,
                    Entry::Out(m, k) => {
                        let key = (ptr(m), *k);
                        let mut slot = node_grads.remove(&key);
                        add_grad(&mut slot, g)?;
                        node_grads.insert(key, slot.expect("just added"));
                    }
                }
            }
        }

        if !retain_graph {
            for n in &order {
                *n.saved.lock().unwrap_or_else(|e| e.into_inner()) = None;
            }
        }

        if let Some(vars) = variables {
            let mut out = Vec::with_capacity(vars.len());
            for v in vars {
                let entry = v
                    .entry()
                    .and_then(|e| e.variable().cloned())
                    .ok_or_else(|| {
                        Error::Autograd(
                        "autograd.grad: every variable must have a gradient attached (attach_grad)"
                            .into(),
                    )
                    })?;
                out.push(
                    match var_grads.get(&ptr(&entry)).and_then(|(_, g)| g.clone()) {
                        Some(g) => g,
                        None => Tensor::zeros(v.shape(), v.dtype(), v.device())?,
                    },
                );
            }
            return Ok(out);
        }

        for (v, g) in var_grads.into_values() {
            let Some(g) = g else { continue };
            let mut buf = v.grad.lock().unwrap_or_else(|e| e.into_inner());
            if v.req != GradReq::Null {
                v.fresh.store(true, Ordering::Relaxed);
            }
            match (v.req, buf.as_ref()) {
                (GradReq::Null, _) => {}
                (_, None) => *buf = Some(g),
                (GradReq::Write, Some(b)) => b.write_from(&g)?,
                (GradReq::Add, Some(b)) => {
                    let sum = b.add(&g)?;
                    b.write_from(&sum)?;
                }
            }
        }
        Ok(Vec::new())
    };
    if caller_only {
        pass()
    } else {
        on_pool(pass)
    }
}

/// `cpu::on_pool` for a pass of many ops (a graph run, a backward pass), with this thread's
/// autograd modes set on the pool thread too. While a trace is active `f` runs here: the tracer
/// belongs to this thread.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if crate::graph::trace::active() {
        return f();
    }
    let (recording, training) = (is_recording(), is_training());
    crate::backend::cpu::on_pool(move || {
        let _guard = ModeGuard(set_recording(recording), set_training(training));
        f()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::elementwise::Bin;
    use crate::DType;

    #[test]
    fn deep_graphs_drop_and_backprop_without_recursion() {
        let x = Tensor::scalar(1.0, DType::F64);
        mark_variable(&x, None, GradReq::Write);
        let prev = set_recording(true);
        let mut y = x.clone();
        for _ in 0..200_000 {
            y = y.scalar_op(Bin::Add, 1.0, false).unwrap();
        }
        set_recording(prev);
        drop(y); // an unused deep graph
        let prev = set_recording(true);
        let mut y = x.clone();
        for _ in 0..200_000 {
            y = y.scalar_op(Bin::Mul, 1.0, false).unwrap();
        }
        set_recording(prev);
        backward(&[y], &[None], None, false, false, true).unwrap();
        assert_eq!(grad_of(&x).unwrap().to_f64_vec().unwrap(), vec![1.0]);
    }
}
