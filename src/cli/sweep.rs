//! `mmbench sweep` and `mmbench pareto`.

use crate::error::{Error, Result};
use crate::report::{self, write_atomic};
use crate::sweep::{self, pareto, Metric, SweepSpec, Value};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The sweep specification (YAML; see the README).
    pub spec: String,
    /// Write the CSV here instead of stdout (written whole or not at all).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Evaluate only part I of N (0-based) of the configurations; the parts' outputs concatenate, in order,
    /// to the whole sweep's output (only part 0 writes the header).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Also write the Pareto-optimal rows (per workload) over the spec's `pareto` objectives to this file.
    #[arg(long)]
    pub pareto: Option<PathBuf>,
}

pub fn run(a: SweepArgs) -> Result<()> {
    let spec = SweepSpec::load(&a.spec)?;
    let (shard, shards) = match &a.shard {
        Some(s) => sweep::parse_shard(s).map_err(|m| Error::input(Default::default(), m))?,
        None => (0, 1),
    };
    if a.pareto.is_some() && shards > 1 {
        return Err(Error::input(Default::default(), "--pareto needs the whole sweep: concatenate the shards' outputs, then run `mmbench pareto`"));
    }
    if a.pareto.is_some() && spec.pareto.is_none() {
        return Err(Error::input(Default::default(), format!("{}: --pareto needs a `pareto:` section in the spec", a.spec)));
    }
    if a.threads == Some(0) {
        return Err(Error::input(Default::default(), "--threads must be at least 1"));
    }
    let all = sweep::configurations(&spec);
    let configs = &all[sweep::shard_range(all.len(), shard, shards)];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads.unwrap_or(0))
        .build()
        .map_err(|e| Error::Unsupported(format!("cannot start worker threads: {e}")))?;
    let bar = ProgressBar::new(configs.len() as u64);
    bar.set_style(ProgressStyle::with_template("{spinner} {pos}/{len} configurations {wide_bar} {per_sec} eta {eta}").unwrap_or_else(|_| ProgressStyle::default_bar()));
    let t0 = Instant::now();
    let rows = pool.install(|| sweep::run(&spec, configs, &|_| bar.inc(1)))?;
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    let failed = rows.iter().filter(|r| r.error.is_some()).count();
    let csv = sweep::to_csv(&spec, &rows, shard == 0)?;
    if let (Some(path), Some(p)) = (&a.pareto, &spec.pareto) {
        let objectives: Vec<(usize, bool)> = p
            .minimize
            .iter()
            .map(|o| (o, false))
            .chain(p.maximize.iter().map(|o| (o, true)))
            .map(|(o, max)| (spec.metrics.iter().position(|m| Some(*m) == Metric::from_name(o)).expect("checked by the spec"), max))
            .collect();
        let points: Vec<Option<Vec<f64>>> = rows
            .iter()
            .map(|r| {
                objectives.iter().map(|&(k, _)| if let Value::Num(x) = r.metrics[k] { Some(x) } else { None }).collect::<Option<Vec<f64>>>().filter(|_| r.error.is_none())
            })
            .collect();
        let maximize: Vec<bool> = objectives.iter().map(|&(_, m)| m).collect();
        let groups: Vec<String> = rows.iter().map(|r| r.workload.clone()).collect();
        let on = pareto::front_by_group(&groups, &points, &maximize);
        let front: Vec<sweep::Row> = rows.iter().zip(&on).filter(|(_, o)| **o).map(|(r, _)| r.clone()).collect();
        write_atomic(path, sweep::to_csv(&spec, &front, true)?.as_bytes())?;
        eprintln!("pareto: {} of {} configurations on the front, written to {}", front.len(), rows.len(), path.display());
    }
    report::emit(&csv, a.out.as_deref())?;
    eprintln!(
        "{}: {} configurations in {:.2} s ({:.0} per second){}",
        spec.name,
        rows.len(),
        secs,
        rows.len() as f64 / secs.max(1e-9),
        if failed > 0 { format!(", {failed} could not be evaluated (see the `error` column)") } else { String::new() }
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct ParetoArgs {
    /// A CSV with a header (e.g. a sweep's output, shards concatenated).
    pub csv: PathBuf,
    /// Columns to minimize, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub minimize: Vec<String>,
    /// Columns to maximize, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub maximize: Vec<String>,
    /// Compare only rows with equal values of this column (empty: all rows together).
    #[arg(long, default_value = "workload")]
    pub group_by: String,
    /// Write here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn pareto_run(a: ParetoArgs) -> Result<()> {
    let file = a.csv.display().to_string();
    let bad = |m: String| Error::input(crate::error::Location::file(&file), m);
    if a.minimize.len() + a.maximize.len() < 2 {
        return Err(bad("a Pareto front needs at least two objectives (--minimize, --maximize)".into()));
    }
    let text = crate::input::read_text(&a.csv)?;
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().map_err(|e| bad(e.to_string()))?.clone();
    let col = |name: &str| header.iter().position(|h| h == name).ok_or_else(|| bad(format!("no column `{name}`; columns: {}", header.iter().collect::<Vec<_>>().join(", "))));
    let objectives: Vec<(usize, bool)> = a.minimize.iter().map(|o| col(o).map(|c| (c, false))).chain(a.maximize.iter().map(|o| col(o).map(|c| (c, true)))).collect::<Result<_>>()?;
    let group = if a.group_by.is_empty() { None } else { Some(col(&a.group_by)?) };
    let records: Vec<csv::StringRecord> = r.records().collect::<std::result::Result<_, _>>().map_err(|e| bad(e.to_string()))?;
    let points: Vec<Option<Vec<f64>>> = records.iter().map(|rec| objectives.iter().map(|&(c, _)| rec.get(c).and_then(|v| v.parse::<f64>().ok())).collect()).collect();
    let groups: Vec<String> = records.iter().map(|rec| group.and_then(|g| rec.get(g)).unwrap_or("").to_string()).collect();
    let on = pareto::front_by_group(&groups, &points, &objectives.iter().map(|&(_, m)| m).collect::<Vec<_>>());
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::Unsupported(format!("CSV encoding failed: {e}"));
    w.write_record(&header).map_err(err)?;
    for (rec, _) in records.iter().zip(&on).filter(|(_, o)| **o) {
        w.write_record(rec).map_err(err)?;
    }
    let text = String::from_utf8(w.into_inner().map_err(|e| Error::Unsupported(e.to_string()))?).expect("UTF-8");
    report::emit(&text, a.out.as_deref())
}
