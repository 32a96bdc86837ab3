//! The weights of a Paddle2ONNX export, read straight from the `.onnx` file.
//!
//! Only the parameters are read, never the graph's ops: the networks themselves are written out
//! in [`super::detector`] and [`super::recognizer`]. Paddle2ONNX stores each parameter as a
//! `Constant` node named after the Paddle layer (`conv2d_161.w_0`, `batch_norm_0.b_0`,
//! `learnable_affine_block_3.w_1`, ...) and helper constants (shapes, scalars) under other names.
//! Paddle numbers layers by creation, not by use, so the parameters are keyed by the order in
//! which the graph first uses them, which is the order the hand-written networks read them in:
//! `det.000`, `det.001`, ... Every read checks the shape, and the loader checks at the end that
//! every parameter was read, so a different network fails loudly instead of running wrong.

use std::collections::HashMap;

use prost::Message;

use crate::clip::weights::{WeightSource, check_shape};
use crate::error::{Error, Result};

// The few fields of ONNX's protobuf schema (onnx.proto3) that the weights live in; prost skips
// the rest. Tag numbers are the schema's.
#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    output: Vec<String>,
    #[prost(string, tag = "4")]
    op_type: String,
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttributeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct AttributeProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "5")]
    t: Option<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(float, repeated, tag = "4")]
    float_data: Vec<f32>,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(bytes = "vec", tag = "9")]
    raw_data: Vec<u8>,
}

const ONNX_FLOAT: i32 = 1;

/// One parameter: its place in the read order, the Paddle name and its f32 values.
struct Param {
    name: String,
    shape: Vec<usize>,
    values: Vec<f32>,
}

/// The parameters of one network, keyed `{net}.{index:03}` in first-use order.
pub struct OnnxWeights {
    file: String,
    params: HashMap<String, Param>,
}

/// Paddle parameter names end in `.w_N` or `.b_N`; helper constants do not.
fn is_parameter(name: &str) -> bool {
    let Some((layer, kind)) = name.rsplit_once('.') else {
        return false;
    };
    let numbered = |prefix: &str| {
        kind.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    !name.starts_with("p2o.") && !layer.is_empty() && (numbered("w_") || numbered("b_"))
}

fn tensor_values(file: &str, name: &str, t: &TensorProto) -> Result<(Vec<usize>, Vec<f32>)> {
    let bad = |message: String| Error::tensor(file, name, message);
    if t.data_type != ONNX_FLOAT {
        return Err(bad(format!(
            "data type {} where float32 (1) was expected",
            t.data_type
        )));
    }
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| bad(format!("negative dimension {d}"))))
        .collect::<Result<Vec<_>>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    let values = if t.raw_data.is_empty() {
        t.float_data.clone()
    } else {
        t.raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    if values.len() != count || (!t.raw_data.is_empty() && t.raw_data.len() != 4 * count) {
        return Err(bad(format!(
            "holds {} values where its shape {shape:?} needs {count}",
            values.len()
        )));
    }
    Ok((shape, values))
}

impl OnnxWeights {
    /// Reads the parameters of the ONNX model `bytes` (from `file`, named in errors) as the
    /// network `net` (`det` or `rec`).
    pub fn parse(bytes: &[u8], file: &str, net: &str) -> Result<Self> {
        let model = ModelProto::decode(bytes)
            .map_err(|e| Error::config(file, format!("not a valid ONNX model: {e}")))?;
        let graph = model
            .graph
            .ok_or_else(|| Error::config(file, "ONNX model without a graph"))?;
        let mut stored: HashMap<&str, &TensorProto> = HashMap::new();
        for init in &graph.initializer {
            stored.insert(&init.name, init);
        }
        for node in graph.node.iter().filter(|n| n.op_type == "Constant") {
            let value = node.attribute.iter().find(|a| a.name == "value");
            if let (Some(out), Some(t)) = (node.output.first(), value.and_then(|a| a.t.as_ref())) {
                stored.insert(out, t);
            }
        }
        let mut params = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for node in graph.node.iter().filter(|n| n.op_type != "Constant") {
            for input in &node.input {
                if !is_parameter(input) || !seen.insert(input.as_str()) {
                    continue;
                }
                let Some(t) = stored.get(input.as_str()) else {
                    continue;
                };
                let (shape, values) = tensor_values(file, input, t)?;
                let key = format!("{net}.{:03}", params.len());
                params.insert(
                    key,
                    Param {
                        name: input.clone(),
                        shape,
                        values,
                    },
                );
            }
        }
        if params.is_empty() {
            return Err(Error::config(
                file,
                "no Paddle parameters (`layer_N.w_N` constants) found: not a PP-OCR export",
            ));
        }
        Ok(OnnxWeights {
            file: file.to_string(),
            params,
        })
    }

    pub fn len(&self) -> usize {
        self.params.len()
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// The file the weights were read from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Keeps, in every parameter whose last axis has `size` entries, only the entries `keep` (in
    /// that order); returns how many parameters changed.
    pub fn select_last_axis(&mut self, size: usize, keep: &[usize]) -> usize {
        let mut changed = 0;
        for param in self.params.values_mut() {
            if param.shape.last() != Some(&size) {
                continue;
            }
            param.values = param
                .values
                .chunks_exact(size)
                .flat_map(|row| keep.iter().map(move |&k| row[k]))
                .collect();
            *param.shape.last_mut().expect("checked above") = keep.len();
            changed += 1;
        }
        changed
    }

    /// The Paddle name of `key`, for messages.
    pub fn paddle_name(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(|p| p.name.as_str())
    }
}

impl WeightSource for OnnxWeights {
    fn source_name(&self) -> &str {
        &self.file
    }

    fn read(&self, key: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let param = self.params.get(key).ok_or_else(|| {
            Error::tensor(
                &self.file,
                key,
                format!(
                    "missing: the file has only {} parameters, fewer than the network reads",
                    self.params.len()
                ),
            )
        })?;
        let label = format!("{key} ({})", param.name);
        check_shape(&self.file, &label, &param.shape, shape)?;
        Ok(param.values.clone())
    }

    fn shape_of(&self, key: &str) -> Option<Vec<usize>> {
        self.params.get(key).map(|p| p.shape.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::is_parameter;

    #[test]
    fn paddle_parameter_names() {
        for name in [
            "conv2d_161.w_0",
            "batch_norm2d_0.b_0",
            "learnable_affine_block_3.w_1",
            "linear_8.b_0",
        ] {
            assert!(is_parameter(name), "{name}");
        }
        for name in [
            "helper.constant.1",
            "p2o.pd_op.full.0.0",
            "p2o.helper.constant.3",
            "x",
            ".w_0",
            "a.w_",
        ] {
            assert!(!is_parameter(name), "{name}");
        }
    }
}
