//! MXNet's symbol JSON (`-symbol.json`): read both the 1.x and 2.x files (op names of either
//! family, the old `attr`/`param` keys, two-element inputs), write the 1.x spelling, which real
//! MXNet 1.9.1 and 2.0 both load. The layout is in `shared/MXNET-FORMATS.md`.
use super::{Entry, Graph, Kind, Node};
use crate::ops::{self, Attr, Attrs};
use crate::{Error, Result};
use serde_json::{json, Map, Value};

/// The MXNet version written into the file's attributes (1.9.1).
const MXNET_VERSION: i64 = 10901;

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::Io(format!("symbol JSON: {msg}"))
}

/// Ops that carry our fused `act_type`, which MXNet's op of that name lacks: written as the op
/// plus an `Activation` node.
const FUSED_ACT: [&str; 4] = [
    "FullyConnected",
    "Convolution",
    "Deconvolution",
    "BatchNorm",
];

/// Ops whose MXNet form requires the number of its (variadic) inputs as `num_args`.
const NUM_ARGS: [&str; 6] = [
    "Concat",
    "concat",
    "stack",
    "_npi_stack",
    "add_n",
    "ElementWiseSum",
];

fn strings(pairs: Vec<(String, String)>) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

fn node_json(op: &str, name: &str, attrs: Map<String, Value>, inputs: Vec<Value>) -> Value {
    let mut n = Map::new();
    n.insert("op".into(), json!(op));
    n.insert("name".into(), json!(name));
    if !attrs.is_empty() {
        n.insert("attrs".into(), Value::Object(attrs));
    }
    n.insert("inputs".into(), Value::Array(inputs));
    Value::Object(n)
}

/// The graph as MXNet 1.x symbol JSON. `var_attrs` gives a variable's attributes by name
/// (`__shape__`, `__dtype__`, `__init__`, ...), added to those the node carries.
pub fn to_json(g: &Graph, var_attrs: &dyn Fn(&str) -> Vec<(String, String)>) -> Result<String> {
    let mut nodes = Vec::new();
    let mut row_ptr = vec![0usize];
    // Our node i's entry j is JSON node first[i] + ... : a split op's last node gives its output.
    let mut out_node = Vec::with_capacity(g.nodes.len());
    let mut arg_nodes = Vec::new();
    let entry = |map: &[usize], e: &Entry| json!([map[e.node], e.index, 0]);
    for n in &g.nodes {
        let inputs: Vec<Value> = n.inputs.iter().map(|e| entry(&out_node, e)).collect();
        match &n.kind {
            Kind::Var | Kind::Const(_) => {
                let mut attrs = n.extra.clone();
                attrs.extend(var_attrs(&n.name));
                arg_nodes.push(nodes.len());
                nodes.push(node_json("null", &n.name, strings(attrs), inputs));
                row_ptr.push(row_ptr.last().unwrap() + 1);
            }
            Kind::Op(op) => {
                op.export_check()
                    .map_err(|e| e.within(&format!("node {} ({})", n.name, op.mxnet_name())))?;
                let mut attrs = op.attrs().to_mxnet_strings();
                attrs.extend(n.extra.iter().cloned());
                if NUM_ARGS.contains(&op.mxnet_name())
                    && !attrs.iter().any(|(k, _)| k == "num_args")
                {
                    attrs.push(("num_args".into(), n.inputs.len().to_string()));
                }
                let act = if FUSED_ACT.contains(&op.mxnet_name()) {
                    let i = attrs.iter().position(|(k, _)| k == "act_type");
                    i.map(|i| attrs.remove(i).1)
                } else {
                    None
                };
                nodes.push(node_json(op.mxnet_name(), &n.name, strings(attrs), inputs));
                row_ptr.push(row_ptr.last().unwrap() + n.num_outputs);
                if let Some(act) = act {
                    let src = json!([nodes.len() - 1, 0, 0]);
                    let attrs = strings(vec![("act_type".into(), act.clone())]);
                    nodes.push(node_json(
                        "Activation",
                        &format!("{}_{act}", n.name),
                        attrs,
                        vec![src],
                    ));
                    row_ptr.push(row_ptr.last().unwrap() + 1);
                }
            }
        }
        out_node.push(nodes.len() - 1);
    }
    let heads: Vec<Value> = g.outputs.iter().map(|e| entry(&out_node, e)).collect();
    let doc = json!({
        "nodes": nodes,
        "arg_nodes": arg_nodes,
        "node_row_ptr": row_ptr,
        "heads": heads,
        "attrs": {"mxnet_version": ["int", MXNET_VERSION]},
    });
    serde_json::to_string_pretty(&doc).map_err(bad)
}

fn as_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn entry_of(v: &Value, what: &str) -> Result<Entry> {
    let a = v
        .as_array()
        .filter(|a| a.len() == 2 || a.len() == 3)
        .ok_or_else(|| {
            bad(format!(
                "{what}: an entry must be [node, output(, version)], got {v}"
            ))
        })?;
    let num = |x: &Value| {
        x.as_u64()
            .map(|u| u as usize)
            .ok_or_else(|| bad(format!("{what}: bad entry {v}")))
    };
    Ok(Entry {
        node: num(&a[0])?,
        index: num(&a[1])?,
    })
}

/// Read a symbol JSON document. Ops are built by the registry from the file's attribute strings
/// (names of both MXNet families are registered); `__...__` attributes stay on the node.
pub fn from_json(text: &str) -> Result<Graph> {
    let doc: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let nodes = doc
        .get("nodes")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no \"nodes\" list"))?;
    let mut g = Graph::default();
    for (i, n) in nodes.iter().enumerate() {
        let name = n.get("name").and_then(Value::as_str).unwrap_or_default();
        let what = format!("node {i} ({name})");
        let op = n
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("{what} has no \"op\"")))?;
        let mut attrs = Attrs::new();
        let mut extra = Vec::new();
        for key in ["attrs", "attr", "param"] {
            if let Some(m) = n.get(key).and_then(Value::as_object) {
                for (k, v) in m {
                    if k.starts_with("__") && k.ends_with("__") {
                        extra.push((k.clone(), as_string(v)));
                    } else {
                        attrs.set(k, Attr::Str(as_string(v)));
                    }
                }
            }
        }
        let inputs = match n.get("inputs") {
            None => Vec::new(),
            Some(v) => v
                .as_array()
                .ok_or_else(|| bad(format!("{what}: \"inputs\" is not a list")))?
                .iter()
                .map(|e| entry_of(e, &what))
                .collect::<Result<Vec<_>>>()?,
        };
        for e in &inputs {
            if e.node >= i {
                return Err(bad(format!(
                    "{what} reads node {} which does not come before it",
                    e.node
                )));
            }
        }
        let kind = if op == "null" {
            Kind::Var
        } else {
            Kind::Op(ops::build(op, &attrs).map_err(|e| e.within(&format!("symbol JSON {what}")))?)
        };
        g.nodes.push(Node {
            name: name.to_string(),
            kind,
            inputs,
            num_outputs: 1,
            extra,
        });
    }
    g.outputs = doc
        .get("heads")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no \"heads\" list"))?
        .iter()
        .map(|e| entry_of(e, "heads"))
        .collect::<Result<_>>()?;
    // Output counts as far as the file uses them (node_row_ptr is not trusted).
    let used: Vec<Entry> = g
        .nodes
        .iter()
        .flat_map(|n| n.inputs.iter().copied())
        .chain(g.outputs.iter().copied())
        .collect();
    for e in used {
        let n = g
            .nodes
            .get_mut(e.node)
            .ok_or_else(|| bad(format!("an entry names node {} of {}", e.node, nodes.len())))?;
        if matches!(n.kind, Kind::Var) && e.index > 0 {
            return Err(bad(format!(
                "variable {} has one output, not {}",
                n.name,
                e.index + 1
            )));
        }
        n.num_outputs = n.num_outputs.max(e.index + 1);
    }
    Ok(g)
}
