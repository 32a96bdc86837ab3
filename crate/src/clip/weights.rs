//! Named f32 weights with checked shapes: every tower reads its tensors through `WeightSource`, so a
//! safetensors file and (later) a quantized bundle load through the same model code.

use std::collections::HashMap;

use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};

pub trait WeightSource {
    /// The file (or bundle part) the weights come from, for error messages.
    fn source_name(&self) -> &str;
    /// The tensor `key` as f32 values in row-major order; an error unless its shape is `shape`.
    fn read(&self, key: &str, shape: &[usize]) -> Result<Vec<f32>>;
    /// The stored shape of `key`, where the source knows it.
    fn shape_of(&self, key: &str) -> Option<Vec<usize>>;
    /// The matrix `key` (`[rows, cols]`) as int8 codes and one scale per row, where the source
    /// stores it so; `None` where it stores floats.
    fn read_int8(&self, key: &str, shape: &[usize]) -> Result<Option<(Vec<i8>, Vec<f32>)>> {
        let _ = (key, shape);
        Ok(None)
    }
}

/// How the transformer blocks' linear layers compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "native", derive(clap::ValueEnum))]
pub enum Kernels {
    /// f32 weights and the device's matrix product.
    Float,
    /// f32 weights on memeclip's own products over host memory, with the bias and QuickGELU
    /// fused ([`crate::kernels::float`]). CPU device only; what native CLIP runs on there.
    Fused,
    /// int8 weights and per-row quantized activations on the host ([`crate::kernels::int8`]):
    /// 2.5x faster than f32 in wasm; the OCR's dense convs on 12-bit integer filters. CPU
    /// device only: each product reads its input back synchronously, which WebGPU cannot do.
    Int8,
}

impl Kernels {
    /// The fastest f32 kernels on `device`: the fused host products on the CPU backend,
    /// the device's own products elsewhere.
    pub fn float_for(device: &Device) -> Kernels {
        if *device == Device::flex() {
            Kernels::Fused
        } else {
            Kernels::Float
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kernels::Float => "float",
            Kernels::Fused => "fused",
            Kernels::Int8 => "int8",
        }
    }

    /// Whether these kernels read activations back synchronously (the CPU device only).
    pub fn on_host(self) -> bool {
        self != Kernels::Float
    }

    /// An error unless these kernels can run on `device`: host kernels need the CPU device.
    pub fn check_device(self, device: &Device) -> Result<()> {
        if self.on_host() && *device != Device::flex() {
            return Err(Error::Backend(format!(
                "{} kernels run on the CPU backend (flex) only",
                self.name()
            )));
        }
        Ok(())
    }
}

/// The error every source gives when a stored shape is not the one the model needs.
pub(crate) fn check_shape(
    source: &str,
    key: &str,
    actual: &[usize],
    expected: &[usize],
) -> Result<()> {
    if actual == expected {
        return Ok(());
    }
    Err(Error::tensor(
        source,
        key,
        format!("shape is {actual:?}, expected {expected:?}"),
    ))
}

/// Creates burn tensors from a source on one device, naming the source and key in every error.
pub struct WeightLoader<'a> {
    pub source: &'a dyn WeightSource,
    pub device: &'a Device,
    pub kernels: Kernels,
}

impl WeightLoader<'_> {
    pub fn tensor<const D: usize>(&self, key: &str, shape: [usize; D]) -> Result<Tensor<D>> {
        let values = self.source.read(key, &shape)?;
        Ok(Tensor::from_data(
            TensorData::new(values, shape),
            self.device,
        ))
    }

    /// A PyTorch `nn.Linear` weight stored `[out, in]`, returned as burn's `[in, out]`.
    pub fn linear_weight(&self, key: &str, d_in: usize, d_out: usize) -> Result<Vec<f32>> {
        let torch = self.source.read(key, &[d_out, d_in])?;
        Ok(transpose(&torch, d_out, d_in))
    }

    pub fn from_values<const D: usize>(&self, values: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
        Tensor::from_data(TensorData::new(values, shape), self.device)
    }
}

/// Transposes a row-major `[rows, cols]` matrix, in tiles so both sides stay in cache (a plain
/// double loop takes seconds on ViT-L/14's 4096-wide layers).
pub fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const TILE: usize = 32;
    let mut out = vec![0.0; values.len()];
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    out[c * rows + r] = values[r * cols + c];
                }
            }
        }
    }
    out
}

/// A parsed safetensors file held in memory.
pub struct SafetensorsWeights {
    name: String,
    bytes: Vec<u8>,
    metadata: HashMap<String, String>,
    /// Tensor key -> (dtype, shape, byte range), read once from the header.
    index: HashMap<String, (Dtype, Vec<usize>, std::ops::Range<usize>)>,
}

impl SafetensorsWeights {
    pub fn from_bytes(bytes: Vec<u8>, name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let (header_len, metadata) =
            SafeTensors::read_metadata(&bytes).map_err(|e| Error::Safetensors {
                file: name.clone(),
                message: e.to_string(),
            })?;
        let data_start = 8 + header_len;
        let extra = metadata.metadata().clone().unwrap_or_default();
        let mut index = HashMap::new();
        for (key, info) in metadata.tensors() {
            let (start, end) = info.data_offsets;
            index.insert(
                key,
                (
                    info.dtype,
                    info.shape.clone(),
                    data_start + start..data_start + end,
                ),
            );
        }
        Ok(SafetensorsWeights {
            name,
            bytes,
            metadata: extra,
            index,
        })
    }

    pub fn open(path: &std::path::Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(bytes, path.display().to_string())
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    /// A tensor's dtype, shape and raw little-endian bytes, for non-float tensors.
    pub fn raw(&self, key: &str) -> Option<(Dtype, &[usize], &[u8])> {
        self.index
            .get(key)
            .map(|(dtype, shape, range)| (*dtype, shape.as_slice(), &self.bytes[range.clone()]))
    }

    /// The file's `__metadata__` strings.
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    pub fn shape(&self, key: &str) -> Option<&[usize]> {
        self.index.get(key).map(|(_, shape, _)| shape.as_slice())
    }
}

impl WeightSource for SafetensorsWeights {
    fn source_name(&self) -> &str {
        &self.name
    }

    fn shape_of(&self, key: &str) -> Option<Vec<usize>> {
        self.shape(key).map(<[usize]>::to_vec)
    }

    fn read(&self, key: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (dtype, actual, range) = self
            .index
            .get(key)
            .ok_or_else(|| Error::tensor(&self.name, key, "missing"))?;
        check_shape(&self.name, key, actual, shape)?;
        let raw = &self.bytes[range.clone()];
        decode_floats(raw, *dtype).ok_or_else(|| {
            Error::tensor(
                &self.name,
                key,
                format!("dtype {dtype:?} is not supported (expected F32, F16 or BF16)"),
            )
        })
    }
}

/// A tensor ready to write: name, dtype, shape and little-endian bytes.
pub type RawTensor = (String, Dtype, Vec<usize>, Vec<u8>);

/// Writes tensors and metadata as safetensors, through a temporary file renamed into place so
/// an interrupted write never leaves a half file under `path`.
pub fn write_raw_safetensors(
    path: &std::path::Path,
    tensors: &[RawTensor],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let mut views = Vec::with_capacity(tensors.len());
    for (key, dtype, shape, data) in tensors {
        let view = safetensors::tensor::TensorView::new(*dtype, shape.clone(), data)
            .map_err(|e| Error::tensor(path.display().to_string(), key, e.to_string()))?;
        views.push((key.clone(), view));
    }
    let bytes = safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Safetensors {
        file: path.display().to_string(),
        message: e.to_string(),
    })?;
    crate::atomic::write(path, &bytes)
}

/// `write_raw_safetensors` for f32 tensors.
pub fn write_safetensors(
    path: &std::path::Path,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let raw: Vec<RawTensor> = tensors
        .iter()
        .map(|(key, shape, values)| {
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (key.clone(), Dtype::F32, shape.clone(), bytes)
        })
        .collect();
    write_raw_safetensors(path, &raw, metadata)
}

/// Little-endian f32/f16/bf16 bytes to f32 values; `None` for other dtypes.
pub(crate) fn decode_floats(raw: &[u8], dtype: Dtype) -> Option<Vec<f32>> {
    let values = match dtype {
        Dtype::F32 => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => raw
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => raw
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::F64 => raw
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        _ => return None,
    };
    Some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_moves_rows_to_columns() {
        // [[1,2,3],[4,5,6]] -> [[1,4],[2,5],[3,6]]
        assert_eq!(
            transpose(&[1., 2., 3., 4., 5., 6.], 2, 3),
            vec![1., 4., 2., 5., 3., 6.]
        );
        // Across tile borders: element (r, c) lands at (c, r).
        let (rows, cols) = (45, 70);
        let values: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
        let t = transpose(&values, rows, cols);
        for (r, c) in [(0, 69), (44, 0), (33, 31), (31, 33), (44, 69)] {
            assert_eq!(t[c * rows + r], values[r * cols + c]);
        }
    }

    #[test]
    fn half_precision_decodes_exactly() {
        let raw: Vec<u8> = [1.5f32, -2.0, 0.099975586]
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect();
        assert_eq!(
            decode_floats(&raw, Dtype::F16).unwrap(),
            vec![1.5, -2.0, 0.099975586]
        );
        assert!(decode_floats(&raw, Dtype::I64).is_none());
    }
}
