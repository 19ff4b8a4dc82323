//! Every YAML block in the docs is a config the loader accepts, so documented examples cannot
//! drift from what the gateway really takes (`$VARS` resolve to a placeholder here).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```yaml") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn documented_configs_load() {
    let mut checked = 0;
    for doc in ["README.md", "docs/config.md"] {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
        for (i, block) in yaml_blocks(&text).iter().enumerate() {
            // Blocks that are fragments (no top-level `endpoints:`) illustrate one key only.
            if !block.lines().any(|l| l.starts_with("endpoints:")) {
                continue;
            }
            let name = format!("{doc} block {}", i + 1);
            // Secrets named by `$VAR` resolve to a placeholder; gateway settings stay unset.
            let env = |var: &str| (!var.starts_with("MLFLOW_")).then(|| "placeholder".to_owned());
            if let Err(e) = llm_gateway::config::load_str(Path::new(&name), block, &env) {
                panic!("{name} does not load: {e}\n{block}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "only {checked} documented configs found");
}
