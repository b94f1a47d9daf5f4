//! The targets of a scan as a front end gives them: listed ones and files of them (`-iL`,
//! `--exclude-file`), each target checked where it is read so that a refusal names the file and
//! line. This module must never resolve a name or send anything:
//! `picket_scan::ScanTargets::resolve` does that when the run starts.

use std::path::{Path, PathBuf};

use picket_model::{TargetSpec, Targets};

use crate::error::{AppError, Context};

/// Targets to include and exclude, listed or in files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetValues {
    pub include: Vec<String>,
    pub include_files: Vec<PathBuf>,
    pub exclude: Vec<String>,
    pub exclude_files: Vec<PathBuf>,
}

impl TargetValues {
    /// Reads the files and checks every target.
    pub fn targets(&self) -> Result<Targets, AppError> {
        let mut include = self.include.clone();
        for file in &self.include_files {
            include.extend(read_target_file(file)?);
        }
        let mut exclude = self.exclude.clone();
        for file in &self.exclude_files {
            exclude.extend(read_target_file(file)?);
        }
        Ok(Targets::parse(&include, &exclude)?)
    }
}

/// Targets from a file: whitespace-separated, `#` to the end of a line is a comment.
fn read_target_file(path: &Path) -> Result<Vec<String>, AppError> {
    let text = std::fs::read_to_string(path)
        .context(|| format!("cannot read target file {}", path.display()))?;
    let mut targets = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        for word in line.split_whitespace() {
            word.parse::<TargetSpec>()
                .context(|| format!("{}:{}", path.display(), i + 1))?;
            targets.push(word.to_owned());
        }
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_files_name_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("targets.txt");
        let values = TargetValues {
            include_files: vec![file.clone()],
            ..TargetValues::default()
        };
        std::fs::write(&file, "# lab\n127.0.0.1 127.0.0.2\n\n10.0.0.0/33 # typo\n").unwrap();
        let err = values.targets().unwrap_err();
        assert!(err.to_string().contains("targets.txt:4"), "{err}");
        std::fs::write(&file, "# lab\n127.0.0.1 127.0.0.2 # two\n").unwrap();
        assert_eq!(values.targets().unwrap().include.len(), 2);
        let missing = TargetValues {
            exclude_files: vec![dir.path().join("none.txt")],
            ..TargetValues::default()
        };
        let err = missing.targets().unwrap_err();
        assert!(
            err.to_string().starts_with("cannot read target file"),
            "{err}"
        );
    }
}
