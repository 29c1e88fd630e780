//! Unary elementwise functions: activations and simple pointwise maps (scale, clamp, range masks).

use crate::graph::cost::{OpClass, OpCost};
use crate::graph::tensor::{expect_f32, expect_inputs, TensorInfo};
use crate::graph::OpSpec;
use serde::{Deserialize, Serialize};

/// One pointwise function.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnaryFn {
    Relu,
    LeakyRelu { slope: f32 },
    /// Exact GELU (erf form, BERT).
    Gelu,
    /// GELU with the tanh approximation (`gelu_new`, ALBERT and GPT).
    GeluTanh,
    Sigmoid,
    Tanh,
    /// x * sigmoid(x).
    Silu,
    Exp,
    /// Natural logarithm (cross-entropy and focal losses).
    Log,
    /// `|x|` (L1 losses).
    Abs,
    /// `x ^ exponent` (the focal loss's `(1 - p) ^ 2`, `(1 - t) ^ 4`).
    Pow { exponent: f32 },
    /// `x * factor + offset`.
    Scale { factor: f32, offset: f32 },
    Clamp { min: f32, max: f32 },
    /// Keeps values strictly inside `(low, high)` and sets the rest to zero (Vision & Touch depth).
    KeepRange { low: f32, high: f32 },
}

impl UnaryFn {
    pub fn name(&self) -> &'static str {
        match self {
            UnaryFn::Relu => "relu",
            UnaryFn::LeakyRelu { .. } => "leaky_relu",
            UnaryFn::Gelu => "gelu",
            UnaryFn::GeluTanh => "gelu_tanh",
            UnaryFn::Sigmoid => "sigmoid",
            UnaryFn::Tanh => "tanh",
            UnaryFn::Silu => "silu",
            UnaryFn::Exp => "exp",
            UnaryFn::Log => "log",
            UnaryFn::Abs => "abs",
            UnaryFn::Pow { .. } => "pow",
            UnaryFn::Scale { .. } => "scale",
            UnaryFn::Clamp { .. } => "clamp",
            UnaryFn::KeepRange { .. } => "keep_range",
        }
    }

    /// FLOPs per element, by convention: relu 1 (a max), leaky relu 2 (compare, multiply), exp 1, log 1, abs 1,
    /// pow 2 (log and exp), sigmoid 4 (negate, exp, add, divide), tanh 5 (two exps, sub, add, divide), silu 5 (sigmoid + multiply),
    /// gelu 8 (erf form: scale, erf ~4, add, two multiplies), gelu_tanh 9 (cube polynomial + tanh), scale 2,
    /// clamp 2, keep_range 3 (two compares, select).
    pub fn flops_per_element(&self) -> u64 {
        match self {
            UnaryFn::Relu | UnaryFn::Exp | UnaryFn::Log | UnaryFn::Abs => 1,
            UnaryFn::LeakyRelu { .. } | UnaryFn::Pow { .. } | UnaryFn::Scale { .. } | UnaryFn::Clamp { .. } => 2,
            UnaryFn::KeepRange { .. } => 3,
            UnaryFn::Sigmoid => 4,
            UnaryFn::Tanh | UnaryFn::Silu => 5,
            UnaryFn::Gelu => 8,
            UnaryFn::GeluTanh => 9,
        }
    }

    /// Parses a YAML op name and its parameters into a function; `None` if the name is not a unary op.
    pub fn from_yaml(name: &str, params: &serde_yaml::Value) -> Option<Result<UnaryFn, String>> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Leaky {
            #[serde(default = "slope")]
            slope: f32,
        }
        fn slope() -> f32 {
            0.01
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ScaleP {
            #[serde(default = "one")]
            factor: f32,
            #[serde(default)]
            offset: f32,
        }
        fn one() -> f32 {
            1.0
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct PowP {
            exponent: f32,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Range {
            low: f32,
            high: f32,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ClampP {
            #[serde(default = "neg_inf")]
            min: f32,
            #[serde(default = "inf")]
            max: f32,
        }
        fn neg_inf() -> f32 {
            f32::NEG_INFINITY
        }
        fn inf() -> f32 {
            f32::INFINITY
        }
        fn decode<T: serde::de::DeserializeOwned>(v: &serde_yaml::Value) -> Result<T, String> {
            let v = if v.is_null() { serde_yaml::Value::Mapping(Default::default()) } else { v.clone() };
            serde_yaml::from_value(v).map_err(|e| e.to_string())
        }
        let no_params = |f: UnaryFn| -> Result<UnaryFn, String> {
            match params {
                serde_yaml::Value::Null => Ok(f),
                serde_yaml::Value::Mapping(m) if m.is_empty() => Ok(f),
                _ => Err(format!("`{name}` takes no parameters")),
            }
        };
        Some(match name {
            "relu" => no_params(UnaryFn::Relu),
            "gelu" => no_params(UnaryFn::Gelu),
            "gelu_tanh" => no_params(UnaryFn::GeluTanh),
            "sigmoid" => no_params(UnaryFn::Sigmoid),
            "tanh" => no_params(UnaryFn::Tanh),
            "silu" => no_params(UnaryFn::Silu),
            "exp" => no_params(UnaryFn::Exp),
            "log" => no_params(UnaryFn::Log),
            "abs" => no_params(UnaryFn::Abs),
            "pow" => decode::<PowP>(params).map(|p| UnaryFn::Pow { exponent: p.exponent }),
            "leaky_relu" => decode::<Leaky>(params).map(|p| UnaryFn::LeakyRelu { slope: p.slope }),
            "scale" => decode::<ScaleP>(params).map(|p| UnaryFn::Scale { factor: p.factor, offset: p.offset }),
            "clamp" => decode::<ClampP>(params).and_then(|p| {
                if p.min > p.max { Err(format!("clamp min {} is above max {}", p.min, p.max)) } else { Ok(UnaryFn::Clamp { min: p.min, max: p.max }) }
            }),
            "keep_range" => decode::<Range>(params).map(|p| UnaryFn::KeepRange { low: p.low, high: p.high }),
            _ => return None,
        })
    }

    /// Applies the function to one value (the CPU reference and the executor share this definition).
    pub fn apply(&self, x: f32) -> f32 {
        match *self {
            UnaryFn::Relu => x.max(0.0),
            UnaryFn::LeakyRelu { slope } => if x >= 0.0 { x } else { slope * x },
            UnaryFn::Gelu => 0.5 * x * (1.0 + erf(x / std::f32::consts::SQRT_2)),
            UnaryFn::GeluTanh => {
                let c = (2.0 / std::f32::consts::PI).sqrt();
                0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
            }
            UnaryFn::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            UnaryFn::Tanh => x.tanh(),
            UnaryFn::Silu => x / (1.0 + (-x).exp()),
            UnaryFn::Exp => x.exp(),
            UnaryFn::Log => x.ln(),
            UnaryFn::Abs => x.abs(),
            UnaryFn::Pow { exponent } => x.powf(exponent),
            UnaryFn::Scale { factor, offset } => x * factor + offset,
            UnaryFn::Clamp { min, max } => x.clamp(min, max),
            UnaryFn::KeepRange { low, high } => if x > low && x < high { x } else { 0.0 },
        }
    }
}

/// erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7).
pub fn erf(x: f32) -> f32 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs() as f64;
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * (-x * x).exp();
    sign * y as f32
}

/// A unary elementwise op.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unary {
    pub func: UnaryFn,
}

impl OpSpec for Unary {
    fn infer(&self, inputs: &[TensorInfo]) -> Result<TensorInfo, String> {
        expect_inputs(inputs, 1)?;
        expect_f32(&inputs[0], "the input")?;
        Ok(inputs[0].clone())
    }
    fn cost(&self, inputs: &[TensorInfo], out: &TensorInfo) -> OpCost {
        OpCost {
            flops: self.func.flops_per_element() * out.numel(),
            bytes_read: inputs[0].bytes(),
            bytes_written: out.bytes(),
            ..OpCost::of(OpClass::Elementwise)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_follow_the_per_element_table() {
        let x = TensorInfo::f32([2, 3]);
        let c = Unary { func: UnaryFn::Sigmoid }.cost(std::slice::from_ref(&x), &x);
        assert_eq!(c.flops, 24);
        assert_eq!(c.bytes_read, 24);
        assert_eq!(c.params, 0);
    }

    #[test]
    fn yaml_names_parse_with_parameters() {
        let p: serde_yaml::Value = serde_yaml::from_str("{slope: 0.1}").unwrap();
        assert_eq!(UnaryFn::from_yaml("leaky_relu", &p).unwrap().unwrap(), UnaryFn::LeakyRelu { slope: 0.1 });
        assert!(UnaryFn::from_yaml("relu", &p).unwrap().is_err());
        assert!(UnaryFn::from_yaml("conv2d", &p).is_none());
        let bad: serde_yaml::Value = serde_yaml::from_str("{min: 2, max: 1}").unwrap();
        assert!(UnaryFn::from_yaml("clamp", &bad).unwrap().is_err());
    }

    #[test]
    fn reference_values() {
        assert!((erf(0.5) - 0.520_499_9).abs() < 1e-6);
        assert!((UnaryFn::Gelu.apply(1.0) - 0.841_344_7).abs() < 1e-5);
        assert_eq!(UnaryFn::KeepRange { low: 1e-7, high: 2.0 }.apply(2.5), 0.0);
        assert_eq!(UnaryFn::LeakyRelu { slope: 0.1 }.apply(-2.0), -0.2);
    }

    #[test]
    fn loss_functions_parse_and_apply() {
        // The pieces of L1, cross-entropy and focal losses (WORKLOADS.md §11.4).
        let none = serde_yaml::Value::Null;
        assert_eq!(UnaryFn::from_yaml("abs", &none).unwrap().unwrap().apply(-3.0), 3.0);
        assert!((UnaryFn::from_yaml("log", &none).unwrap().unwrap().apply(std::f32::consts::E) - 1.0).abs() < 1e-6);
        let p: serde_yaml::Value = serde_yaml::from_str("{exponent: 4}").unwrap();
        let pow = UnaryFn::from_yaml("pow", &p).unwrap().unwrap();
        assert_eq!(pow, UnaryFn::Pow { exponent: 4.0 });
        assert_eq!(pow.apply(0.5), 0.0625);
        assert!(UnaryFn::from_yaml("pow", &none).unwrap().is_err(), "pow needs an exponent");
        let x = TensorInfo::f32([10, 1, 64, 64]);
        assert_eq!(Unary { func: pow }.cost(std::slice::from_ref(&x), &x).flops, 2 * 40_960);
    }
}
