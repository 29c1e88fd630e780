//! `mmbench sweep` and `mmbench pareto`.

use crate::error::{Error, Result};
use crate::report::{self, write_atomic};
use crate::sweep::{self, pareto, Metric, SweepSpec, Value};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The sweep specification (YAML; see the README).
    pub spec: String,
    /// Write the CSV here instead of stdout (written whole or not at all: streamed to a temporary file beside
    /// it, renamed at the end).
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
    let total = spec.count().map_err(Error::Unsupported)?;
    let range = sweep::shard_range(total, shard, shards);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads.unwrap_or(0))
        .build()
        .map_err(|e| Error::Unsupported(format!("cannot start worker threads: {e}")))?;
    let bar = ProgressBar::new(range.len() as u64);
    bar.set_style(ProgressStyle::with_template("{spinner} {pos}/{len} configurations {wide_bar} {per_sec} eta {eta}").unwrap_or_else(|_| ProgressStyle::default_bar()));
    let mut front = match (&a.pareto, &spec.pareto) {
        (Some(_), Some(p)) => Some(Front::new(&spec, p)),
        _ => None,
    };
    let (mut rows, mut failed) = (0usize, 0usize);
    let t0 = Instant::now();
    // Each chunk's records go out as soon as the chunk is evaluated: memory does not grow with the sweep.
    let mut out = Output::open(a.out.as_deref())?;
    let result = pool.install(|| {
        sweep::stream(&spec, range, shard == 0, &|_| bar.inc(1), &mut |chunk, text| {
            rows += chunk.len();
            failed += chunk.iter().filter(|r| r.error.is_some()).count();
            if let Some(f) = &mut front {
                f.add(chunk);
            }
            out.write(text)
        })
    });
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    let result = result.and_then(|()| match (&a.pareto, front) {
        (Some(path), Some(f)) => {
            let on = f.rows();
            write_atomic(path, sweep::to_csv(&spec, &on, true)?.as_bytes())?;
            eprintln!("pareto: {} of {} configurations on the front, written to {}", on.len(), rows, path.display());
            Ok(())
        }
        _ => Ok(()),
    });
    match result.and_then(|()| out.finish()) {
        // A closed pipe (`| head`) is not an error worth a message.
        Err(Error::Write { source, .. }) if a.out.is_none() && source.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        r => r?,
    }
    eprintln!(
        "{}: {} configurations in {:.2} s ({:.0} per second){}",
        spec.name,
        rows,
        secs,
        rows as f64 / secs.max(1e-9),
        if failed > 0 { format!(", {failed} could not be evaluated (see the `error` column)") } else { String::new() }
    );
    if std::env::var_os("MMBENCH_REPORT_PEAK_RSS").is_some() {
        report_peak_rss();
    }
    Ok(())
}

/// Prints the process's peak resident memory (Linux), to check that a sweep's memory does not grow with it.
fn report_peak_rss() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:")) {
        eprintln!("peak memory: {}", line.trim_start_matches("VmHWM:").trim());
    }
}

/// Where the CSV goes: stdout, or a temporary file beside `--out` renamed over it at the end, so the output
/// is written whole or not at all. Dropped unfinished (an error), the temporary file is removed.
struct Output {
    /// `(path, temporary path, file)` for `--out`.
    file: Option<(PathBuf, PathBuf, BufWriter<File>)>,
}

impl Output {
    fn open(path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else { return Ok(Output { file: None }) };
        let werr = |source| Error::Write { path: path.to_path_buf(), source };
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().ok_or_else(|| werr(std::io::Error::other("not a file name")))?;
        let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
        let f = File::create(&tmp).map_err(werr)?;
        Ok(Output { file: Some((path.to_path_buf(), tmp, BufWriter::new(f))) })
    }

    fn write(&mut self, text: &str) -> Result<()> {
        match &mut self.file {
            Some((path, _, f)) => f.write_all(text.as_bytes()).map_err(|source| Error::Write { path: path.clone(), source }),
            None => {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush()).map_err(|source| Error::Write { path: "<stdout>".into(), source })
            }
        }
    }

    /// Flushes the file to disk and renames it over the output.
    fn finish(mut self) -> Result<()> {
        let Some((path, tmp, f)) = self.file.take() else { return Ok(()) };
        let result = f.into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all()).and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(source) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::Write { path, source });
        }
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Some((_, tmp, _)) = &self.file {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// The Pareto front (per workload) of the rows seen so far over the spec's objectives. `--pareto` needs all
/// rows, but keeping them all would make memory grow with the sweep (and re-reading the finished CSV would
/// not work for stdout); so after each chunk only the rows still on the front are kept. That gives the same
/// front as over all rows at once: a row dominated now stays dominated, and any dominated row is dominated
/// by some row of the final front. Kept rows stay in configuration order.
struct Front {
    /// Metric column and whether larger is better, per objective.
    objectives: Vec<(usize, bool)>,
    kept: Vec<sweep::Row>,
}

impl Front {
    fn new(spec: &SweepSpec, p: &sweep::spec::Pareto) -> Self {
        let objectives = p
            .minimize
            .iter()
            .map(|o| (o, false))
            .chain(p.maximize.iter().map(|o| (o, true)))
            .map(|(o, max)| (spec.metrics.iter().position(|m| Some(*m) == Metric::from_name(o)).expect("checked by the spec"), max))
            .collect();
        Front { objectives, kept: Vec::new() }
    }

    fn point(objectives: &[(usize, bool)], r: &sweep::Row) -> Option<Vec<f64>> {
        objectives.iter().map(|&(k, _)| if let Value::Num(x) = r.metrics[k] { Some(x) } else { None }).collect::<Option<Vec<f64>>>().filter(|_| r.error.is_none())
    }

    fn add(&mut self, chunk: &[sweep::Row]) {
        // Rows without every objective are never on the front: they are not kept.
        let objectives = &self.objectives;
        self.kept.extend(chunk.iter().filter(|r| Self::point(objectives, r).is_some()).cloned());
        let points: Vec<Option<Vec<f64>>> = self.kept.iter().map(|r| Self::point(objectives, r)).collect();
        let groups: Vec<String> = self.kept.iter().map(|r| r.workload.clone()).collect();
        let maximize: Vec<bool> = self.objectives.iter().map(|&(_, m)| m).collect();
        let on = pareto::front_by_group(&groups, &points, &maximize);
        let mut on = on.into_iter();
        self.kept.retain(|_| on.next().unwrap_or(false));
    }

    fn rows(self) -> Vec<sweep::Row> {
        self.kept
    }
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
