//! README's "Writing a job" code is the page_views example's, so it compiles: this
//! test fails when the two drift apart.

use std::path::Path;

#[test]
fn readme_job_is_the_compiled_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("../README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("examples/page_views.rs")).unwrap();
    let section = &readme[readme.find("## Writing a job").expect("README has a \"Writing a job\" section")..];
    let start = section.find("```rust\n").expect("the section has a rust block") + "```rust\n".len();
    let block = &section[start..start + section[start..].find("```").expect("the block ends")];
    assert!(block.lines().count() > 10, "the README block is the job, not a fragment:\n{block}");
    assert!(example.contains(block), "README's job differs from examples/page_views.rs:\n{block}");
}
