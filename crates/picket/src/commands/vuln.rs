//! `picket vuln import`: picket-app reads, checks and stores the files; this renders what each
//! held.

use std::io::Write;

use anyhow::Result;
use picket_app::import;
use picket_app::options::VulnImportOptions;

pub fn import(db: &str, opts: &VulnImportOptions, out: &mut dyn Write) -> Result<()> {
    // Read and parse everything first: a bad file stores nothing.
    let import = import::read_vuln(opts)?;
    let store = picket_store::open(db)?;
    import.store(&store)?;
    picket_report::listings::vuln_import(
        out,
        &import.files,
        &import.skipped,
        import.applications_added(),
    )?;
    Ok(())
}
