//! README.md as data: its fenced blocks in order, each with its info string, the section
//! (`## ` heading) it sits in and its line, and the output block that follows a command.

/// A fenced block.
#[derive(Debug, Clone)]
pub struct Block {
    /// 1-based line of the opening fence.
    pub line: usize,
    /// The language, the info string's first word (`sh`, `text`, `json`, …).
    pub lang: String,
    /// The info string's other words: how the README test treats the block.
    pub tags: Vec<String>,
    /// The `## ` heading above it.
    pub section: String,
    pub body: String,
}

impl Block {
    pub fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

/// A command block with the output block quoted right after it (only blank lines between).
#[derive(Debug, Clone)]
pub struct Step {
    pub command: Block,
    pub output: Option<Block>,
}

pub fn blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut section = String::new();
    let mut open: Option<(usize, String, Vec<String>, Vec<&str>)> = None;
    for (n, line) in markdown.lines().enumerate() {
        match &mut open {
            Some((start, lang, tags, body)) => {
                if line.trim_start().starts_with("```") {
                    blocks.push(Block {
                        line: *start,
                        lang: std::mem::take(lang),
                        tags: std::mem::take(tags),
                        section: section.clone(),
                        body: body.join("\n") + "\n",
                    });
                    open = None;
                } else {
                    body.push(line);
                }
            }
            None => {
                if let Some(heading) = line.strip_prefix("## ") {
                    section = heading.trim().to_string();
                } else if let Some(info) = line.trim_start().strip_prefix("```") {
                    let mut words = info.split_whitespace().map(str::to_string);
                    let lang = words.next().unwrap_or_default();
                    open = Some((n + 1, lang, words.collect(), Vec::new()));
                }
            }
        }
    }
    blocks
}

/// The `sh` blocks of `sections`, in order, each with the `text` or `json` block that
/// follows it with nothing but blank lines between.
pub fn steps(markdown: &str, sections: &[&str]) -> Vec<Step> {
    let lines: Vec<&str> = markdown.lines().collect();
    let all = blocks(markdown);
    let mut steps = Vec::new();
    for (i, block) in all.iter().enumerate() {
        if block.lang != "sh" || !sections.contains(&block.section.as_str()) {
            continue;
        }
        let output = all.get(i + 1).filter(|next| {
            let end_of_command = block.line + block.body.lines().count() + 1;
            (next.lang == "text" || next.lang == "json")
                && lines[end_of_command..next.line - 1]
                    .iter()
                    .all(|l| l.trim().is_empty())
        });
        steps.push(Step {
            command: block.clone(),
            output: output.cloned(),
        });
    }
    steps
}

#[test]
fn blocks_and_their_outputs_are_read_in_order() {
    let md = "# T\n## One\n```sh\necho a\n```\n\n```text\na\n```\n## Two\n```sh demo\necho b\n```\nprose\n```text\nb\n```\n";
    let steps = steps(md, &["One", "Two"]);
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0].command.body, "echo a\n");
    assert_eq!(
        steps[0].output.as_ref().map(|b| b.body.as_str()),
        Some("a\n")
    );
    assert!(steps[1].command.has("demo"));
    assert!(steps[1].output.is_none(), "prose between: not its output");
}
