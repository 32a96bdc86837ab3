//! Metrics against scikit-learn (dataset-level) and torchmetrics (the official per-batch way),
//! computed once by pkg-scripts/make-head-fixtures.py on fixed logits.

mod common;

use memeclip::train::metrics::evaluate;

#[test]
fn metrics_match_sklearn_and_torchmetrics() {
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixtures().join("metrics.json")).unwrap(),
    )
    .unwrap();
    for case in json["cases"].as_array().unwrap() {
        let classes = case["classes"].as_u64().unwrap() as usize;
        let labels: Vec<usize> = serde_json::from_value(case["labels"].clone()).unwrap();
        let logits: Vec<Vec<f32>> = serde_json::from_value(case["logits"].clone()).unwrap();
        let report = evaluate(&logits, &labels, classes, 16);
        for (ours, theirs) in [
            (&report.proper, &case["proper"]),
            (&report.code_faithful, &case["code_faithful"]),
        ] {
            for (name, value) in [
                ("accuracy", ours.accuracy),
                ("macro_f1", ours.macro_f1),
                ("auroc", ours.auroc),
            ] {
                let expected = theirs[name].as_f64().unwrap();
                assert!(
                    (value - expected).abs() < 1e-5,
                    "{classes} classes, {name}: {value} vs {expected}"
                );
            }
        }
        assert_eq!(
            report.confusion.iter().flatten().sum::<usize>(),
            labels.len()
        );
    }
}
