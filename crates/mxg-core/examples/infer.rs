//! Run an exported MXNet model from Rust alone:
//!
//!     cargo run --release --example infer -- model-symbol.json model-0000.params \
//!         [--shape 1,3,32,32 | --input x.npy] [--threads 4]
//!
//! The input is a `.npy` file, or ones of `--shape`. With `--threads N` the one loaded model
//! runs from N threads at once. Prints each output's name, shape and first values.
use mxg_core::graph::model::Model;
use mxg_core::{io, DType, Device, Result, Tensor};
use std::process::exit;

fn usage() -> ! {
    eprintln!("usage: infer SYMBOL.json PARAMS [--shape D0,D1,... | --input X.npy] [--threads N]");
    exit(2)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("infer: {e}");
        exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        usage();
    }
    let (mut shape, mut input, mut threads) = (None, None, 1usize);
    let mut rest = args[2..].iter();
    while let Some(a) = rest.next() {
        let v = rest.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--shape" => {
                let dims: std::result::Result<Vec<usize>, _> =
                    v.split(',').map(str::parse).collect();
                shape = Some(dims.unwrap_or_else(|_| usage()));
            }
            "--input" => input = Some(v.clone()),
            "--threads" => threads = v.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let model = Model::load(&args[0], &args[1])?;
    let names = model.input_names().to_vec();
    if names.len() != 1 {
        eprintln!(
            "infer: the model takes {} inputs ({}); this example feeds one",
            names.len(),
            names.join(", ")
        );
        exit(2);
    }
    let x = match (input, shape) {
        (Some(path), _) => io::load(path.as_ref())?.arrays.swap_remove(0),
        (None, Some(s)) => Tensor::full(&s, 1.0, DType::F32, Device::Cpu(0))?,
        (None, None) => {
            eprintln!("infer: give the input's --shape or an --input .npy file");
            exit(2);
        }
    };
    let start = std::time::Instant::now();
    let outs = std::thread::scope(|s| {
        let runs: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| model.run(&[x.clone()])))
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("a run panicked"))
            .collect::<Result<Vec<_>>>()
    })?;
    println!(
        "{} run(s) on {} thread(s) in {:.2} ms",
        threads,
        threads,
        start.elapsed().as_secs_f64() * 1e3
    );
    for (name, t) in model.output_names().iter().zip(&outs[0]) {
        let v = t.to_f64_vec()?;
        let head: Vec<String> = v.iter().take(8).map(|x| format!("{x:.6}")).collect();
        println!(
            "{name} {:?}: [{}{}]",
            t.shape().as_slice(),
            head.join(", "),
            if v.len() > 8 { ", ..." } else { "" }
        );
    }
    Ok(())
}
