//! The built-in `transfuser` workload is TransFuser as WORKLOADS.md §11 describes it: its parameters stream by
//! stream and head by head, the stage shapes of §11.3, its modalities and joins, the Python execution order,
//! the host synchronizations of the loss section, and predictions on a datacenter and an edge GPU.

use mmbench::analysis::stage_breakdown;
use mmbench::graph::{load_workload, Node, Op, Stage, Workload, WorkloadOptions};
use mmbench::hardware::load_hardware;
use mmbench::predict::{predict, PredictOptions};
use std::collections::HashSet;

fn load_with(sets: &[&str]) -> Workload {
    let sets = sets.iter().map(|s| mmbench::yaml::parse_set(s).unwrap()).collect();
    load_workload("transfuser", &WorkloadOptions { batch: None, sets, scale: None }).unwrap_or_else(|e| panic!("{e}"))
}

fn load() -> Workload {
    load_with(&[])
}

/// Registered parameters of the nodes `keep` selects, each weight group once (the GRU steps share weights).
fn params_where(w: &Workload, keep: impl Fn(&Node) -> bool) -> u64 {
    let mut groups = HashSet::new();
    w.nodes()
        .filter(|(_, n)| keep(n))
        .filter(|(_, n)| n.weight_group.as_ref().is_none_or(|g| groups.insert(g.clone())))
        .map(|(_, n)| n.cost.params)
        .sum()
}

fn under(n: &Node, prefix: &str) -> bool {
    n.name == prefix || n.name.starts_with(&format!("{prefix}/"))
}

/// The value a YAML item produced: a block's output is the last op it added, an op item is its own node.
fn item<'a>(w: &'a Workload, name: &str) -> &'a Node {
    w.nodes().filter(|(_, n)| under(n, name)).last().unwrap_or_else(|| panic!("no item `{name}`")).1
}

fn index_of(w: &Workload, name: &str) -> usize {
    w.nodes().position(|(_, n)| under(n, name)).unwrap_or_else(|| panic!("no item `{name}`"))
}

#[test]
fn whole_model_has_168_018_327_parameters() {
    // WORKLOADS.md §1 and §11.4.
    let w = load();
    assert_eq!(w.params(), 168_018_327);
    assert_eq!(w.unregistered_params(), 0);
}

#[test]
fn backbone_parameters_add_up_as_workloads_md_derives_them() {
    // WORKLOADS.md §11.3: 166,131,508 = 2 x 17,923,338 + 128,690,208 + 2 x 774,656 + 45,312.
    let w = load();
    for stream in ["image", "lidar"] {
        let regnet = params_where(&w, |n| n.stage == Stage::Encoder && w.modality_name(n) == Some(stream));
        assert_eq!(regnet, 17_923_338, "RegNetY-032 without classifier, {stream} stream");
        assert_eq!(params_where(&w, |n| under(n, &format!("{stream}/reduce"))), 774_656, "{stream} 1x1 reduce 1512 -> 512");
    }
    let gpts: Vec<u64> = (1..=4).map(|i| params_where(&w, |n| under(n, &format!("fusion{i}/gpt")))).collect();
    assert_eq!(gpts, [265_248, 2_288_736, 16_056_576, 110_079_648]);
    assert_eq!(params_where(&w, |n| n.name.starts_with("fusion")), 128_690_208, "the splits have no parameters");
    assert_eq!(params_where(&w, |n| under(n, "fpn")), 45_312);
    let backbone = params_where(&w, |n| n.stage != Stage::Head || under(n, "fpn"));
    assert_eq!(backbone, 166_131_508);
}

#[test]
fn head_parameters_match_workloads_table() {
    // WORKLOADS.md §11.4: waypoints 186,115, BEV 37,123, detection 259,861, semantic 702,727, depth 700,993.
    let w = load();
    let heads = [("waypoints", 186_115), ("bev", 37_123), ("detection", 259_861), ("semantic", 702_727), ("depth", 700_993)];
    for (head, params) in heads {
        assert_eq!(params_where(&w, |n| under(n, head)), params, "{head}");
    }
    assert_eq!(params_where(&w, |n| n.stage == Stage::Head && !under(n, "fpn")), 1_886_819, "heads total");
}

#[test]
fn stage_shapes_match_workloads_table() {
    // WORKLOADS.md §11.3 at B = 10: stem and layer1..4 of each stream, the reduced grids and the pooled join.
    let w = load();
    let shape = |name: &str| item(&w, name).output.shape.clone();
    let image = [vec![10, 32, 80, 352], vec![10, 72, 40, 176], vec![10, 216, 20, 88], vec![10, 576, 10, 44], vec![10, 1512, 5, 22]];
    let lidar = [vec![10, 32, 128, 128], vec![10, 72, 64, 64], vec![10, 216, 32, 32], vec![10, 576, 16, 16], vec![10, 1512, 8, 8]];
    for (stream, want) in [("image", &image), ("lidar", &lidar)] {
        let got: Vec<Vec<usize>> = ["stem", "layer1", "layer2", "layer3", "layer4"].iter().map(|s| shape(&format!("{stream}/{s}"))).collect();
        assert_eq!(&got, want, "{stream}");
        // Each GPT exchange returns the stream at its own resolution.
        for (i, stage) in want.iter().enumerate().skip(1) {
            assert_eq!(&shape(&format!("fusion{i}/{stream}")), stage, "fusion{i}/{stream}");
        }
    }
    let widths = [72, 216, 576, 1512];
    for (i, c) in widths.iter().enumerate() {
        assert_eq!(shape(&format!("fusion{}/gpt", i + 1)), [10, 174, *c], "110 image + 64 LiDAR tokens");
    }
    assert_eq!(shape("image/reduce"), [10, 512, 5, 22]);
    assert_eq!(shape("lidar/reduce"), [10, 512, 8, 8]);
    assert_eq!(shape("fused"), [10, 512]);
    for (p, side) in [("fpn/p5", 8), ("fpn/p4", 16), ("fpn/p3", 32), ("fpn/p2", 64)] {
        assert_eq!(shape(p), [10, 64, side, side], "{p}");
    }
}

#[test]
fn modalities_are_the_three_inputs_of_workloads_md() {
    // WORKLOADS.md §1 and §11.2: RGB 3x160x704, LiDAR BEV 3x256x256, target point 2; batch 10.
    let w = load();
    assert_eq!(w.batch, 10);
    assert_eq!(w.modalities, ["image", "lidar", "target_point"]);
    let input = |name: &str| item(&w, name).output.shape.clone();
    assert_eq!(input("image/input"), [10, 3, 160, 704]);
    assert_eq!(input("lidar/input"), [10, 3, 256, 256]);
    assert_eq!(input("target_point/input"), [10, 2]);
    // With the loss targets, the GRU's first waypoint and the validation total: ten host-to-device copies
    // ("about ten", §11.6).
    let inputs: Vec<&str> = w.nodes().filter(|(_, n)| matches!(n.op, Op::Input(_))).map(|(_, n)| n.name.as_str()).collect();
    assert_eq!(inputs.len(), 10, "{inputs:?}");
}

#[test]
fn joins_are_the_four_gpt_exchanges_the_final_sum_and_the_target_point() {
    // WORKLOADS.md §11.6: every GPT needs both streams at the same stage; the pooled features are summed; the
    // target point (its own modality) meets the fused features at the first GRU step.
    let w = load();
    let joins: Vec<&str> = w.joins().into_iter().map(|j| w.graph[j].name.as_str()).collect();
    assert_eq!(
        joins,
        ["fusion1/gpt/tokens", "fusion2/gpt/tokens", "fusion3/gpt/tokens", "fusion4/gpt/tokens", "fused", "waypoints/step0/gru_cell"]
    );
    let stages: Vec<Stage> = w.joins().into_iter().map(|j| w.graph[j].stage).collect();
    assert_eq!(stages[..5], [Stage::Fusion; 5]);
    assert_eq!(stages[5], Stage::Head);
}

#[test]
fn stages_follow_the_brief() {
    // RegNet stages are encoder work of their stream, GPT exchanges and the final join are fusion (the reduce
    // convs and pools keep their stream's tag), everything after is head.
    let w = load();
    for (_, n) in w.nodes() {
        let stream = n.name.split('/').next().unwrap();
        if ["stem", "layer1", "layer2", "layer3", "layer4"].iter().any(|s| n.name.starts_with(&format!("{stream}/{s}/"))) {
            assert_eq!((n.stage, w.modality_name(n)), (Stage::Encoder, Some(stream)), "{}", n.name);
        } else if n.name.starts_with("fusion") || n.name == "fused" {
            assert_eq!((n.stage, n.modality), (Stage::Fusion, None), "{}", n.name);
        } else if n.name.starts_with(&format!("{stream}/norm")) {
            assert_eq!((n.stage, w.modality_name(n)), (Stage::Encoder, Some("image")), "{}", n.name);
        } else if ["reduce", "pool"].iter().any(|s| under(n, &format!("{stream}/{s}"))) {
            assert_eq!((n.stage, w.modality_name(n)), (Stage::Fusion, Some(stream)), "{}", n.name);
        }
    }
    let first_head = w.nodes().position(|(_, n)| n.stage == Stage::Head).unwrap();
    assert_eq!(first_head, index_of(&w, "fpn"));
    assert!(w.nodes().skip(first_head).all(|(_, n)| n.stage == Stage::Head || matches!(n.op, Op::Input(_))));
}

#[test]
fn program_order_is_the_python_order() {
    // transfuser-1.py runs each stage for the image then the LiDAR stream, then the GPT; model.py runs the
    // waypoints, BEV and its loss, the waypoint loss, the detection head, its targets and losses, the
    // semantic and depth decoders and their losses; the validation loop reads the losses back last.
    let w = load();
    let order = [
        "image/norm", "image/stem", "lidar/stem", "image/layer1", "lidar/layer1", "fusion1/gpt", "fusion1/image", "fusion1/lidar",
        "image/layer2", "lidar/layer2", "fusion2/gpt", "image/layer4", "lidar/layer4", "fusion4/lidar", "image/reduce", "lidar/reduce",
        "fused", "fpn", "waypoints", "bev", "loss_bev", "loss_wp", "detection/heatmap", "detection/brake", "targets/gt_ignore",
        "targets/heatmap", "loss_center_heatmap", "loss_brake", "semantic", "depth", "loss_semantic", "loss_depth", "readback",
    ];
    let idx: Vec<usize> = order.iter().map(|n| index_of(&w, n)).collect();
    for (pair, names) in idx.windows(2).zip(order.windows(2)) {
        assert!(pair[0] < pair[1], "{} should run before {}", names[0], names[1]);
    }
}

#[test]
fn outputs_are_the_head_predictions() {
    // WORKLOADS.md §11.4 output column at B = 10.
    let w = load();
    let shapes: Vec<Vec<usize>> = w.outputs.iter().map(|&o| w.graph[o].output.shape.clone()).collect();
    let maps = |k: usize| vec![10, k, 64, 64];
    assert_eq!(
        shapes,
        [vec![10, 4, 2], vec![10, 3, 160, 160], maps(1), maps(2), maps(2), maps(12), maps(1), maps(1), maps(2), vec![10, 7, 160, 704], vec![10, 160, 704]]
    );
}

#[test]
fn losses_are_scalars_read_back_by_the_host() {
    // Eleven losses, each `.item()`-ed by Engine.validate, plus the total.
    let w = load();
    let losses = [
        "loss_wp", "loss_bev", "loss_center_heatmap", "loss_wh", "loss_offset", "loss_yaw_class", "loss_yaw_res", "loss_velocity", "loss_brake",
        "loss_depth", "loss_semantic",
    ];
    for l in losses {
        assert_eq!(item(&w, l).output.shape, Vec::<usize>::new(), "{l} is a scalar");
    }
    let reads = w.nodes().filter(|(_, n)| under(n, "readback") && matches!(n.op, Op::HostWork(_))).count();
    assert_eq!(reads, 12);
}

#[test]
fn the_target_loop_scales_with_the_assumed_boxes() {
    // 10 samples x 20 label slots read their ignore flag; each real box adds 70 kernels and 15 reads.
    let host = |w: &Workload| w.nodes().filter(|(_, n)| under(n, "targets/heatmap") && matches!(n.op, Op::HostWork(_))).count();
    let w4 = load();
    let w0 = load_with(&["params.real_boxes=0"]);
    assert_eq!(host(&w4), 10 * (20 + 4 * 15));
    assert_eq!(host(&w0), 10 * 20);
    assert_eq!(w4.kernels() - w0.kernels(), 10 * 4 * (70 + 15));
    assert_eq!(w4.params(), w0.params());
}

#[test]
fn predicts_on_a100_and_jetson_agx_orin() {
    let w = load();
    let mut latency = Vec::new();
    for hw_name in ["a100", "jetson-agx-orin"] {
        let hw = load_hardware(hw_name, &[]).unwrap();
        let t = predict(&w, &hw, &PredictOptions::default()).unwrap_or_else(|e| panic!("{hw_name}: {e}"));
        t.validate().unwrap_or_else(|e| panic!("{hw_name}: {e}"));
        let parts = stage_breakdown(&t);
        let ms = |stage: Stage, m: Option<&str>| parts.iter().filter(|p| p.stage == stage && p.modality.as_deref() == m).map(|p| p.seconds).sum::<f64>();
        for (stage, m) in [(Stage::Encoder, Some("image")), (Stage::Encoder, Some("lidar")), (Stage::Fusion, None), (Stage::Head, None)] {
            assert!(ms(stage, m) > 0.0, "{hw_name}: no time in {stage:?} {m:?}");
        }
        let total: f64 = parts.iter().map(|p| p.seconds).sum();
        assert!((total - t.latency_s).abs() < 1e-9 * t.latency_s.max(1.0), "{hw_name}: stage parts sum to the latency");
        latency.push(t.latency_s);
    }
    assert!(latency[1] > latency[0], "the Orin ({} s) is slower than the A100 ({} s)", latency[1], latency[0]);
}
