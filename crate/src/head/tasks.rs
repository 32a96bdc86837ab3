//! The tasks and class names of shared/spec/memeclip.md §1.4; the SAI prompts are built from them.

pub const PROMPT_TEMPLATE: &str = "a photo of a {}.";

/// PrideMM's four tasks (CSV column = task name), and HarMeme's binary `harmful` task, which
/// uses the hate class names.
pub const TASKS: &[(&str, &[&str])] = &[
    ("hate", &["Benign Meme", "Harmful Meme"]),
    (
        "target",
        &[
            "No particular target",
            "Individual",
            "Community",
            "Organization",
        ],
    ),
    ("stance", &["Neutral", "Support", "Oppose"]),
    ("humour", &["No Humour", "Humour"]),
    ("harmful", &["Benign Meme", "Harmful Meme"]),
];

pub fn class_names(task: &str) -> Option<Vec<String>> {
    TASKS
        .iter()
        .find(|(name, _)| *name == task)
        .map(|(_, classes)| classes.iter().map(|c| c.to_string()).collect())
}

/// "a photo of a {class}." with underscores read as spaces.
pub fn prompt(class_name: &str) -> String {
    PROMPT_TEMPLATE.replace("{}", &class_name.replace('_', " "))
}
