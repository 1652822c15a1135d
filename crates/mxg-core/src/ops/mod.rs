//! Operators. Each op is defined once: shape and dtype inference, the forward kernel dispatch,
//! the backward rule, and the MXNet operator name and attributes it exports as. The eager path
//! (`apply`), autograd, the graph executor and symbol-JSON export all use these definitions.
use crate::layout::Shape;
use crate::{autograd, graph};
use crate::{DType, Error, Result, Tensor};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

pub mod attrs;
pub mod conv;
pub mod ctc;
pub mod deform;
pub mod elementwise;
pub mod index;
pub mod layers;
pub mod linalg;
pub mod nn;
pub mod norm;
pub mod optimizer;
pub mod pool;
pub mod random;
pub mod reduce;
pub mod rnn;
pub mod sequence;
pub mod shape;
pub mod sort;
pub mod view;

pub use attrs::{Attr, Attrs};

/// What inference knows of a value: its shape and dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    pub shape: Shape,
    pub dtype: DType,
}

impl Meta {
    pub fn new(shape: Shape, dtype: DType) -> Meta {
        Meta { shape, dtype }
    }
    pub fn of(t: &Tensor) -> Meta {
        Meta {
            shape: t.shape().clone(),
            dtype: t.dtype(),
        }
    }
}

pub trait Op: Send + Sync + 'static {
    /// The name the registry knows it by (for most ops, MXNet 2.x's name without `_npi_`).
    fn name(&self) -> &'static str;
    /// The MXNet 1.x operator name written to symbol JSON.
    fn mxnet_name(&self) -> &'static str {
        self.name()
    }
    /// The attributes, as written to symbol JSON and read back by the op's builder.
    fn attrs(&self) -> Attrs {
        Attrs::default()
    }
    /// Output shapes and dtypes from input ones.
    fn infer(&self, inputs: &[Meta]) -> Result<Vec<Meta>>;
    /// Compute the outputs.
    fn forward(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>>;
    /// Ops whose outputs carry no gradient (comparisons, argmax, ...) are never recorded.
    fn differentiable(&self) -> bool {
        true
    }
    /// Gradients of the inputs from the gradients of the outputs (`None`: zero / not needed).
    /// Written with tensor ops, so that with `create_graph` the backward pass is itself recorded.
    /// Ops that are not `differentiable` are never recorded and need not define it.
    fn backward(&self, _ctx: &Ctx, _grads: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        Err(Error::Autograd(format!("{} has no gradient", self.name())))
    }
    /// For an op that fixes random state when it is made (Dropout's mask key, so that backward
    /// sees the same mask): a copy with new state. A graph takes one for each run.
    fn fresh(&self) -> Option<Arc<dyn Op>> {
        None
    }
    /// Whether the op's backward must run on the thread that called `autograd::backward` (it
    /// runs Python code, which keeps its own per-thread state); a backward pass over such a tape
    /// stays on the caller's thread instead of moving to the pool (`autograd::on_pool`).
    fn needs_caller_thread(&self) -> bool {
        false
    }
    /// Why the op cannot be written as an MXNet 1.x node, when it cannot; export then fails
    /// naming it.
    fn export_check(&self) -> Result<()> {
        Ok(())
    }
    /// The inputs the op updates in place: MXNet's auxiliary states (BatchNorm's running
    /// statistics).
    fn aux_inputs(&self) -> &'static [usize] {
        &[]
    }
    /// For an activation op, its activation: the graph fuses it into the op before it.
    fn activation(&self) -> Option<nn::Act> {
        None
    }
    /// This op with `act` applied to its output in the same pass, where it can carry one.
    fn with_activation(&self, _act: nn::Act) -> Option<Arc<dyn Op>> {
        None
    }
}

/// What a backward rule sees of the forward call.
pub struct Ctx<'a> {
    pub op: &'a Arc<dyn Op>,
    pub inputs: &'a [Tensor],
    pub outputs: &'a [Tensor],
    /// Which inputs need a gradient: a rule may return `None` for the others and skip their work.
    pub needs_grad: &'a [bool],
}

impl Ctx<'_> {
    pub fn input(&self, i: usize) -> &Tensor {
        &self.inputs[i]
    }
    pub fn needs_grad(&self, i: usize) -> bool {
        self.needs_grad.get(i).copied().unwrap_or(true)
    }
    /// Output `i`. When the backward pass is being recorded (higher-order gradients), the saved
    /// output has no link to the inputs, so it is recomputed from them under recording.
    pub fn output(&self, i: usize) -> Result<Tensor> {
        if autograd::is_recording() && self.inputs.iter().any(|t| t.entry().is_some()) {
            let refs: Vec<&Tensor> = self.inputs.iter().collect();
            let mut outs = apply(self.op.clone(), &refs)?;
            return Ok(outs.swap_remove(i));
        }
        Ok(self.outputs[i].clone())
    }
}

fn check_devices(op: &str, inputs: &[&Tensor]) -> Result<()> {
    if let Some(first) = inputs.first() {
        if let Some(t) = inputs.iter().find(|t| t.device() != first.device()) {
            return Err(Error::value(
                op,
                format!(
                    "inputs are on different devices ({} and {}): copy them to one first",
                    first.device(),
                    t.device()
                ),
            ));
        }
    }
    Ok(())
}

/// Run an op eagerly, recording it for autograd when some input needs a gradient.
pub fn apply(op: Arc<dyn Op>, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
    check_devices(op.name(), inputs)?;
    let owned: Vec<Tensor> = inputs.iter().map(|t| (*t).clone()).collect();
    let tracing = graph::trace::active();
    let outs = if tracing {
        graph::trace::nested(|| op.forward(&owned))?
    } else {
        op.forward(&owned)?
    };
    if tracing {
        graph::trace::record(&op, &owned, &outs);
    }
    if op.differentiable()
        && autograd::is_recording()
        && owned
            .iter()
            .any(|t| t.entry().is_some_and(|e| e.needs_grad()))
    {
        autograd::record(op, &owned, &outs);
    }
    Ok(outs)
}

/// `apply` for an op with one output.
pub fn apply1(op: Arc<dyn Op>, inputs: &[&Tensor]) -> Result<Tensor> {
    Ok(apply(op, inputs)?.swap_remove(0))
}

/// Makes an op from attributes (Python keyword arguments, or a symbol-JSON node).
pub type Builder = fn(&Attrs) -> Result<Arc<dyn Op>>;

pub type Registry = HashMap<&'static str, Builder>;

pub fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| {
        let mut r = Registry::new();
        elementwise::register(&mut r);
        view::register(&mut r);
        shape::register(&mut r);
        reduce::register(&mut r);
        sort::register(&mut r);
        linalg::register(&mut r);
        index::register(&mut r);
        nn::register(&mut r);
        layers::register(&mut r);
        conv::register(&mut r);
        norm::register(&mut r);
        optimizer::register(&mut r);
        pool::register(&mut r);
        random::register(&mut r);
        ctc::register(&mut r);
        deform::register(&mut r);
        rnn::register(&mut r);
        sequence::register(&mut r);
        r
    })
}

/// The op registered as `name`, built with `attrs`. MXNet 2.x's `_npi_NAME`, `_np_NAME` and
/// `_npx_NAME` fall back to `NAME` (the registry's NumPy names).
pub fn build(name: &str, attrs: &Attrs) -> Result<Arc<dyn Op>> {
    let r = registry();
    let plain = ["_npi_", "_np_", "_npx_"]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .filter(|_| !r.contains_key(name));
    match r.get(plain.unwrap_or(name)) {
        Some(b) => b(attrs),
        None => Err(Error::Unsupported(format!(
            "operator {name} is not known to mxgluon"
        ))),
    }
}

/// Run the op registered as `name` on `inputs`.
pub fn invoke(name: &str, inputs: &[&Tensor], attrs: &Attrs) -> Result<Vec<Tensor>> {
    apply(build(name, attrs)?, inputs)
}

/// Sum `g` down to `shape`: the gradient of a broadcast.
pub fn unbroadcast(g: Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape().as_slice() == shape {
        return Ok(g);
    }
    let lead = g.ndim() - shape.len();
    let mut axes: Vec<isize> = (0..lead as isize).collect();
    for (i, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape()[lead + i] != 1 {
            axes.push((lead + i) as isize);
        }
    }
    let s = g.sum_axes(&axes, false)?;
    s.reshape(shape)
}
